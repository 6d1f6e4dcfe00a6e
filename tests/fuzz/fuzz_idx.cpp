// libFuzzer target: the IDX reader (raw and gzip; data.train_images and friends), and a data set
// made of an images and a labels file. Bad files must end in joule::Error, within the memory their
// headers may claim (bounded reads), never a crash.
#include "core/dataset.h"
#include "core/error.h"
#include "core/idx.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = joule::fuzz::fresh_dir();
  const std::string images = joule::fuzz::part(data, size, 0), labels = joule::fuzz::part(data, size, 1);
  joule::fuzz::write_bytes(dir + "/images.idx", reinterpret_cast<const uint8_t*>(images.data()), images.size());
  joule::fuzz::write_bytes(dir + "/labels.idx", reinterpret_cast<const uint8_t*>(labels.data()), labels.size());
  try {
    (void)joule::read_idx(dir + "/images.idx");
  } catch (const joule::Error&) {
  }
  try {
    (void)joule::load_dataset(dir + "/images.idx", dir + "/labels.idx", 10, 0);
  } catch (const joule::Error&) {
  }
  return 0;
}
