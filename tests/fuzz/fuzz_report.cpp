// libFuzzer target: joule-report's readers of a run directory: metrics.jsonl, a rank log and
// summary.json from the input. Torn or corrupt lines are skipped and counted, never a crash.
#include "core/error.h"
#include "energy/report.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = joule::fuzz::fresh_dir();
  const std::string files[3] = {"metrics.jsonl", "rank-00000.jsonl", "summary.json"};
  for (int i = 0; i < 3; ++i) {
    const std::string bytes = joule::fuzz::part(data, size, i);
    if (!bytes.empty() || i < 2)
      joule::fuzz::write_bytes(dir + "/" + files[i], reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  try {
    const joule::energy::RunReport report = joule::energy::load_run_report(dir);
    (void)joule::energy::format_report_table(report);
    (void)joule::energy::report_json(report);
    (void)joule::energy::report_svg(report);
  } catch (const joule::Error&) {
  }
  return 0;
}
