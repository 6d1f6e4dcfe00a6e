// In-memory image classification datasets (MNIST-style IDX pairs), the per-epoch shuffle order and
// batch assembly. Images stay u8 in memory; gather_batch converts and normalizes a batch at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace joule {

struct Dataset {
  Tensor images;  // u8 [N, H, W], pixel values 0..255
  Tensor labels;  // i32 [N], each in [0, num_classes)
  int64_t height = 0;
  int64_t width = 0;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// Loads an images file (3-D IDX u8 [N, H, W]) and a labels file (1-D IDX u8 [N]). limit > 0 keeps
// only the first `limit` samples (0 = all). Mismatched counts, labels >= num_classes and malformed
// files throw invalid_input errors naming the file(s).
Dataset load_dataset(const std::string& images_path, const std::string& labels_path, int num_classes,
                     int64_t limit);

// The sample order of one epoch: a Fisher-Yates shuffle of 0..n-1 driven by
// CounterRng(seed, 0, epoch, RngStream::shuffle). A pure function of (n, seed, epoch), so every rank
// and every (resumed) run computes the same order.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// Assembles samples indices[0..count) into images_out f32 [count, 1, H, W] with values
// (pixel / 255 - mean) / std_dev, and labels_out i32 [count]. The outputs are reused when they already
// have that shape (ensure_tensor), so a caller may pass views into larger buffers.
// Indices outside [0, N) throw invalid_input.
void gather_batch(Tensor& images_out, Tensor& labels_out, const Dataset& data, const int64_t* indices,
                  int64_t count, float mean, float std_dev);

}  // namespace joule
