// Dataset loading from IDX files, epoch permutations and batch gathering (see dataset.h).
#include "core/dataset.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/idx.h"
#include "core/rng.h"

namespace joule {

Dataset load_dataset(const std::string& images_path, const std::string& labels_path, int num_classes,
                     int64_t limit) {
  JOULE_CHECK(num_classes > 0, "load_dataset: num_classes must be positive, got ", num_classes);
  JOULE_CHECK(limit >= 0, "load_dataset: limit must be >= 0 (0 = all samples), got ", limit);
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  JOULE_CHECK(images.dims.size() == 3, "images file '", images_path,
              "' must hold a 3-D array [N, height, width], got ", images.dims.size(), " dimensions ",
              shape_str(images.dims));
  JOULE_CHECK(labels.dims.size() == 1, "labels file '", labels_path, "' must hold a 1-D array [N], got ",
              labels.dims.size(), " dimensions ", shape_str(labels.dims));
  const int64_t n_images = images.dims[0];
  const int64_t n_labels = labels.dims[0];
  JOULE_CHECK(n_images == n_labels, "sample counts differ: images file '", images_path, "' holds ", n_images,
              " images but labels file '", labels_path, "' holds ", n_labels, " labels");
  JOULE_CHECK(n_images > 0, "images file '", images_path, "' holds no samples");
  const int64_t height = images.dims[1];
  const int64_t width = images.dims[2];
  JOULE_CHECK(height > 0 && width > 0, "images file '", images_path, "' has empty images ",
              shape_str(images.dims));

  const int64_t n = limit > 0 ? std::min(limit, n_images) : n_images;
  Dataset data;
  data.height = height;
  data.width = width;
  data.images = Tensor::empty({n, height, width}, DType::u8);
  std::memcpy(data.images.raw_data(), images.data.data(), data.images.nbytes());
  data.labels = Tensor::empty({n}, DType::i32);
  int32_t* out = data.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int label = labels.data[static_cast<size_t>(i)];
    JOULE_CHECK(label < num_classes, "labels file '", labels_path, "': label at index ", i, " is ", label,
                ", expected a class in [0, ", num_classes, ")");
    out[i] = label;
  }
  return data;
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  JOULE_CHECK(n >= 0, "epoch_permutation: n must be >= 0, got ", n);
  JOULE_CHECK(epoch >= 0, "epoch_permutation: epoch must be >= 0, got ", epoch);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  CounterRng rng(seed, 0, static_cast<uint64_t>(epoch), RngStream::shuffle);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

void gather_batch(Tensor& images_out, Tensor& labels_out, const Dataset& data, const int64_t* indices,
                  int64_t count, float mean, float std_dev) {
  JOULE_CHECK(data.images.defined() && data.images.dtype() == DType::u8 && data.images.ndim() == 3,
              "gather_batch: dataset images must be u8 [N, H, W]");
  JOULE_CHECK(count >= 0, "gather_batch: count must be >= 0, got ", count);
  JOULE_CHECK(std::isfinite(std_dev) && std_dev > 0.0f, "gather_batch: std_dev must be positive and finite, got ",
              std_dev);
  JOULE_CHECK(std::isfinite(mean), "gather_batch: mean must be finite, got ", mean);
  const int64_t n = data.size();
  const int64_t pixels = data.height * data.width;
  ensure_tensor(images_out, {count, 1, data.height, data.width}, DType::f32, Device::cpu());
  ensure_tensor(labels_out, {count}, DType::i32, Device::cpu());

  // One entry per pixel value; the same expression per pixel, so results equal the formula exactly.
  std::array<float, 256> table;
  for (int v = 0; v < 256; ++v) table[static_cast<size_t>(v)] = (static_cast<float>(v) / 255.0f - mean) / std_dev;

  const uint8_t* src = data.images.data<uint8_t>();
  const int32_t* src_labels = data.labels.data<int32_t>();
  float* dst = images_out.data<float>();
  int32_t* dst_labels = labels_out.data<int32_t>();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t index = indices[b];
    JOULE_CHECK(index >= 0 && index < n, "gather_batch: sample index ", index, " at batch position ", b,
                " is outside the dataset of ", n, " samples");
    const uint8_t* image = src + index * pixels;
    float* row = dst + b * pixels;
    for (int64_t p = 0; p < pixels; ++p) row[p] = table[image[p]];
    dst_labels[b] = src_labels[index];
  }
}

}  // namespace joule
