// libFuzzer target: the config parser, --set overrides, defaults and validation (joule-train
// --config). Invalid input must end in joule::Error (exit status 2), never a crash or a hang.
#include "core/config.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = joule::fuzz::part(data, size, 0);
  const std::string assignment = joule::fuzz::part(data, size, 1);  // one --set a.b=VALUE
  try {
    joule::pb::Config config = joule::parse_config_text(text, "fuzz.pbtxt");
    if (!assignment.empty()) joule::apply_config_override(config, assignment);
    joule::fill_config_defaults(config);
    joule::validate_config(config, "fuzz.pbtxt");
    (void)joule::config_to_text(config);
  } catch (const joule::Error&) {
  }
  return 0;
}
