// Dataset loading from IDX files, epoch permutations and batch gathering.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>

#include "core/dataset.h"
#include "core/error.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::idx_bytes;
using testing::TempDir;

// N images of H x W with pixel (i, p) = (11 i + p) mod 256, labels i mod 3.
struct Files {
  std::string images, labels;
};
Files write_set(const TempDir& dir, uint32_t n, uint32_t h, uint32_t w, bool gzip) {
  std::vector<uint8_t> pixels(size_t{n} * h * w), labels(n);
  for (uint32_t i = 0; i < n; ++i) {
    labels[i] = static_cast<uint8_t>(i % 3);
    for (uint32_t p = 0; p < h * w; ++p) pixels[size_t{i} * h * w + p] = static_cast<uint8_t>(11 * i + p);
  }
  Files files{dir.file(gzip ? "images.gz" : "images"), dir.file(gzip ? "labels.gz" : "labels")};
  auto write = gzip ? testing::write_gzip : testing::write_bytes;
  write(files.images, idx_bytes({n, h, w}, pixels));
  write(files.labels, idx_bytes({n}, labels));
  return files;
}

TEST(Dataset, LoadsImagesAndLabels) {
  for (bool gzip : {false, true}) {
    TempDir dir;
    Files files = write_set(dir, 5, 2, 3, gzip);
    Dataset data = load_dataset(files.images, files.labels, 3, 0);
    EXPECT_EQ(data.size(), 5);
    EXPECT_EQ(data.height, 2);
    EXPECT_EQ(data.width, 3);
    EXPECT_EQ(data.images.shape(), (Shape{5, 2, 3}));
    EXPECT_EQ(data.images.dtype(), DType::u8);
    EXPECT_EQ(data.labels.dtype(), DType::i32);
    EXPECT_EQ(data.images.data<uint8_t>()[4 * 6 + 5], 11 * 4 + 5);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(data.labels.data<int32_t>()[i], i % 3);
  }
}

TEST(Dataset, LimitKeepsTheFirstSamples) {
  TempDir dir;
  Files files = write_set(dir, 6, 2, 2, false);
  Dataset data = load_dataset(files.images, files.labels, 3, 4);
  EXPECT_EQ(data.size(), 4);
  EXPECT_EQ(data.images.shape(), (Shape{4, 2, 2}));
  EXPECT_EQ(data.images.data<uint8_t>()[3 * 4], 33);
  EXPECT_EQ(load_dataset(files.images, files.labels, 3, 100).size(), 6);
  expect_invalid_input([&] { load_dataset(files.images, files.labels, 3, -1); }, {"limit", "-1"});
}

TEST(Dataset, CountMismatchNamesBothFiles) {
  TempDir dir;
  Files files = write_set(dir, 4, 2, 2, false);
  testing::write_bytes(files.labels, idx_bytes({3}, {0, 1, 2}));
  expect_invalid_input([&] { load_dataset(files.images, files.labels, 3, 0); },
                       {files.images, files.labels, "4 images", "3 labels"});
}

TEST(Dataset, LabelOutOfRange) {
  TempDir dir;
  Files files = write_set(dir, 4, 2, 2, false);
  testing::write_bytes(files.labels, idx_bytes({4}, {0, 1, 9, 2}));
  expect_invalid_input([&] { load_dataset(files.images, files.labels, 3, 0); },
                       {files.labels, "index 2", "is 9", "[0, 3)"});
}

TEST(Dataset, ImagesMustBeThreeDimensional) {
  TempDir dir;
  Files files = write_set(dir, 4, 2, 2, false);
  testing::write_bytes(files.images, idx_bytes({4, 4}, std::vector<uint8_t>(16)));
  expect_invalid_input([&] { load_dataset(files.images, files.labels, 3, 0); }, {files.images, "3-D", "2 dimensions"});
}

TEST(Dataset, LabelsMustBeOneDimensional) {
  TempDir dir;
  Files files = write_set(dir, 4, 2, 2, false);
  // The images file passed as labels (a swapped command line).
  expect_invalid_input([&] { load_dataset(files.images, files.images, 3, 0); }, {files.images, "1-D", "3 dimensions"});
}

TEST(Dataset, EpochPermutationIsAPermutation) {
  for (int64_t n : {0, 1, 2, 17, 1000}) {
    std::vector<int64_t> order = epoch_permutation(n, 42, 3);
    ASSERT_EQ(static_cast<int64_t>(order.size()), n);
    std::sort(order.begin(), order.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
  }
}

TEST(Dataset, EpochPermutationIsDeterministicAndVaries) {
  const std::vector<int64_t> a = epoch_permutation(500, 7, 0);
  EXPECT_EQ(a, epoch_permutation(500, 7, 0));
  EXPECT_NE(a, epoch_permutation(500, 7, 1));
  EXPECT_NE(a, epoch_permutation(500, 8, 0));
  std::vector<int64_t> identity(500);
  std::iota(identity.begin(), identity.end(), int64_t{0});
  EXPECT_NE(a, identity);
  // A uniform shuffle leaves ~1 of 500 elements in place; far more would mean a broken swap.
  int64_t fixed = 0;
  for (int64_t i = 0; i < 500; ++i) fixed += a[static_cast<size_t>(i)] == i;
  EXPECT_LT(fixed, 10);
}

TEST(Dataset, EpochPermutationIsUniform) {
  // Over 600 seeds each of the 6 orders of 3 elements should appear ~100 times (binomial sd ~9).
  // A skipped swap or Sattolo's variant (j < i) would leave some orders at 0.
  std::map<std::vector<int64_t>, int> counts;
  for (uint64_t seed = 0; seed < 600; ++seed) ++counts[epoch_permutation(3, seed, 0)];
  ASSERT_EQ(counts.size(), 6u);
  for (const auto& [order, count] : counts) {
    EXPECT_GT(count, 60);
    EXPECT_LT(count, 140);
  }
}

TEST(Dataset, GatherBatchNormalizesAndCopiesLabels) {
  TempDir dir;
  Files files = write_set(dir, 6, 2, 3, false);
  Dataset data = load_dataset(files.images, files.labels, 3, 0);
  const int64_t indices[] = {5, 0, 5};
  Tensor images, labels;
  const float mean = 0.2860f, std_dev = 0.3530f;
  gather_batch(images, labels, data, indices, 3, mean, std_dev);
  ASSERT_EQ(images.shape(), (Shape{3, 1, 2, 3}));
  ASSERT_EQ(labels.shape(), (Shape{3}));
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(labels.data<int32_t>()[b], indices[b] % 3);
    for (int p = 0; p < 6; ++p) {
      const double pixel = (11 * indices[b] + p) % 256;
      EXPECT_NEAR(images.data<float>()[b * 6 + p], (pixel / 255.0 - mean) / std_dev, 1e-6);
    }
  }
  EXPECT_NEAR(images.data<float>()[1 * 6 + 0], -mean / std_dev, 1e-6);  // pixel 0

  // Pixel 255 maps to (1 - mean) / std.
  testing::write_bytes(files.images, idx_bytes({1, 1, 1}, {255}));
  testing::write_bytes(files.labels, idx_bytes({1}, {2}));
  Dataset white = load_dataset(files.images, files.labels, 3, 0);
  const int64_t zero = 0;
  gather_batch(images, labels, white, &zero, 1, 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(images.data<float>()[0], 2.0f);
}

TEST(Dataset, GatherBatchRejectsBadIndex) {
  TempDir dir;
  Files files = write_set(dir, 4, 2, 2, false);
  Dataset data = load_dataset(files.images, files.labels, 3, 0);
  const int64_t indices[] = {1, 4};
  Tensor images, labels;
  expect_invalid_input([&] { gather_batch(images, labels, data, indices, 2, 0.0f, 1.0f); }, {"index 4", "4 samples"});
  expect_invalid_input([&] { gather_batch(images, labels, data, indices, 1, 0.0f, 0.0f); }, {"std_dev"});
}

TEST(Dataset, FashionMnistTestSet) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(root + "train-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not found under " << root;
  }
  Dataset data = load_dataset(root + "t10k-images-idx3-ubyte.gz", root + "t10k-labels-idx1-ubyte.gz", 10, 0);
  EXPECT_EQ(data.images.shape(), (Shape{10000, 28, 28}));
  EXPECT_EQ(data.labels.shape(), (Shape{10000}));
  std::vector<int64_t> per_class(10, 0);
  for (int64_t i = 0; i < data.size(); ++i) {
    const int32_t label = data.labels.data<int32_t>()[i];
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++per_class[static_cast<size_t>(label)];
  }
  for (int64_t count : per_class) EXPECT_EQ(count, 1000);  // the test set is balanced
}

}  // namespace
}  // namespace joule
