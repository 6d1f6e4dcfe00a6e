// Small IDX data sets made on the fly for tests: a learnable 10-class problem (each class lights
// a different block of an 8×8 image, plus noise), written raw or gzip-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace joule::testing {

// Writes an IDX u8 file (magic 0 0 8 ndim, big-endian dims, data); gzip when `gzip` is true.
void write_idx_u8(const std::string& path, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                  bool gzip);

struct SyntheticFiles {
  std::string train_images, train_labels, test_images, test_labels;
};

// Writes the four files into `dir` (created if missing): n_train / n_test samples of 8×8 images.
SyntheticFiles write_synthetic_dataset(const std::string& dir, int n_train, int n_test, uint64_t seed);

// A fresh empty directory under /tmp, removed by the caller (or left for inspection on failure).
std::string make_temp_dir(const std::string& prefix);

}  // namespace joule::testing
