// libFuzzer target: the checkpoint reader (joule-train --resume=DIR): a manifest, a rank file, a
// parameters file and an optimizer file from the input, DONE present. Whatever they hold, loading ends in joule::Error
// (exit status 2 naming the file) or a checkpoint whose files match the manifest, never a crash.
#include "core/error.h"
#include "distributed/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = joule::fuzz::fresh_dir();
  const std::string files[4] = {"manifest.pbtxt", "rank-00000.pb", "parameters.f32", "optimizer-momentum.f32"};
  for (int i = 0; i < 4; ++i) {
    const std::string bytes = joule::fuzz::part(data, size, i);
    joule::fuzz::write_bytes(dir + "/" + files[i], reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  joule::fuzz::write_bytes(dir + "/DONE", reinterpret_cast<const uint8_t*>("step 1\n"), 7);
  joule::LocalCommunicator comm;
  try {
    const joule::LoadedCheckpoint loaded = joule::load_checkpoint(comm, dir);
    const std::vector<float>* parameters = loaded.tensor("parameters.f32");
    if (parameters == nullptr || parameters->size() != loaded.manifest.parameter_elements()) std::abort();
  } catch (const joule::Error&) {
  }
  return 0;
}
