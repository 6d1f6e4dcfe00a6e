#include "tests/support/synthetic_data.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "core/rng.h"
#include "tests/support/data_files.h"

namespace joule::testing {

void write_idx_u8(const std::string& path, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                  bool gzip) {
  const std::vector<uint8_t> bytes = idx_bytes(dims, data);
  if (gzip) {
    write_gzip(path, bytes);
  } else {
    write_bytes(path, bytes);
  }
}

SyntheticFiles write_synthetic_dataset(const std::string& dir, int n_train, int n_test, uint64_t seed) {
  std::filesystem::create_directories(dir);
  SyntheticFiles files{dir + "/train-images.gz", dir + "/train-labels.gz", dir + "/test-images.idx",
                       dir + "/test-labels.idx"};
  auto make = [&](int n, uint64_t stream_seed, const std::string& images_path, const std::string& labels_path,
                  bool gzip) {
    CounterRng rng(stream_seed, 0, 0, RngStream::test);
    std::vector<uint8_t> images(static_cast<size_t>(n) * 64), labels(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const int label = static_cast<int>(rng.below(10));
      labels[static_cast<size_t>(i)] = static_cast<uint8_t>(label);
      for (int p = 0; p < 64; ++p) {
        const int row = p / 8, col = p % 8;
        const bool lit = (row / 2) * 4 + col / 2 == label || (row / 2) * 4 + col / 2 == label + 6;
        const float value = (lit ? 180.0f : 40.0f) + 60.0f * (rng.uniform() - 0.5f);
        images[static_cast<size_t>(i) * 64 + static_cast<size_t>(p)] = static_cast<uint8_t>(value);
      }
    }
    write_idx_u8(images_path, {static_cast<uint32_t>(n), 8, 8}, images, gzip);
    write_idx_u8(labels_path, {static_cast<uint32_t>(n)}, labels, gzip);
  };
  make(n_train, seed, files.train_images, files.train_labels, true);
  make(n_test, seed + 1, files.test_images, files.test_labels, false);
  return files;
}

std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  return pattern;
}

}  // namespace joule::testing
