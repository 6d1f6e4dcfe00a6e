// BatchLoader: epoch coverage, batch contents, prefetch equivalence, error propagation, shutdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/batch_loader.h"
#include "core/error.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

// N images of 2 x 3; sample i has pixels (i + 13 p) mod 256 and label i, so a batch names its samples.
Dataset make_dataset(int64_t n) {
  Dataset data;
  data.height = 2;
  data.width = 3;
  data.images = Tensor::empty({n, 2, 3}, DType::u8);
  data.labels = Tensor::empty({n}, DType::i32);
  for (int64_t i = 0; i < n; ++i) {
    data.labels.data<int32_t>()[i] = static_cast<int32_t>(i);
    for (int p = 0; p < 6; ++p) data.images.data<uint8_t>()[i * 6 + p] = static_cast<uint8_t>(i + 13 * p);
  }
  return data;
}

constexpr float kMean = 0.25f, kStd = 0.5f;

struct Collected {
  std::vector<std::vector<float>> images;
  std::vector<std::vector<int32_t>> labels;
};

Collected run_epoch(BatchLoader& loader, int64_t epoch) {
  Collected out;
  loader.start_epoch(epoch);
  Batch batch;
  while (loader.next(batch)) {
    EXPECT_EQ(batch.index, static_cast<int64_t>(out.labels.size()));
    out.images.push_back(batch.images.to_floats());
    const int32_t* l = batch.labels.data<int32_t>();
    out.labels.emplace_back(l, l + batch.labels.numel());
  }
  EXPECT_FALSE(loader.next(batch));  // stays exhausted
  return out;
}

TEST(BatchLoader, EverySampleOnceWithoutDropLast) {
  Dataset data = make_dataset(10);
  for (bool prefetch : {false, true}) {
    for (bool shuffle : {false, true}) {
      BatchLoader loader(data, 3, 5, shuffle, false, kMean, kStd, prefetch);
      Collected epoch = run_epoch(loader, 0);
      ASSERT_EQ(epoch.labels.size(), 4u);
      EXPECT_EQ(epoch.labels.back().size(), 1u);  // 10 = 3 + 3 + 3 + 1
      std::vector<int32_t> seen;
      for (const auto& b : epoch.labels) seen.insert(seen.end(), b.begin(), b.end());
      if (!shuffle) {
        for (int i = 0; i < 10; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
      }
      std::sort(seen.begin(), seen.end());
      for (int i = 0; i < 10; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
    }
  }
}

TEST(BatchLoader, DropLastServesFullBatchesOnly) {
  Dataset data = make_dataset(10);
  BatchLoader loader(data, 4, 5, true, true, kMean, kStd, true);
  Collected epoch = run_epoch(loader, 2);
  ASSERT_EQ(epoch.labels.size(), 2u);
  std::vector<int32_t> seen;
  for (const auto& b : epoch.labels) {
    EXPECT_EQ(b.size(), 4u);
    seen.insert(seen.end(), b.begin(), b.end());
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
}

TEST(BatchLoader, BatchesEqualGatherOfPermutationSlice) {
  Dataset data = make_dataset(23);
  const int64_t bs = 5;
  for (bool prefetch : {false, true}) {
    BatchLoader loader(data, bs, 99, true, false, kMean, kStd, prefetch);
    for (int64_t e : {0, 1}) {
      const std::vector<int64_t> order = epoch_permutation(23, 99, e);
      Collected epoch = run_epoch(loader, e);
      ASSERT_EQ(epoch.images.size(), 5u);
      for (size_t b = 0; b < epoch.images.size(); ++b) {
        const int64_t begin = static_cast<int64_t>(b) * bs, count = std::min<int64_t>(bs, 23 - begin);
        Tensor images, labels;
        gather_batch(images, labels, data, order.data() + begin, count, kMean, kStd);
        EXPECT_EQ(epoch.images[b], images.to_floats()) << "epoch " << e << " batch " << b;
        EXPECT_EQ(epoch.labels[b], std::vector<int32_t>(labels.data<int32_t>(), labels.data<int32_t>() + count));
        // The normalization itself: sample s, pixel 0 is s mod 256.
        const double expected = (static_cast<double>(order[static_cast<size_t>(begin)]) / 255.0 - kMean) / kStd;
        EXPECT_NEAR(epoch.images[b][0], expected, 1e-6);
      }
    }
  }
}

TEST(BatchLoader, PrefetchOnAndOffGiveIdenticalBatches) {
  Dataset data = make_dataset(50);
  BatchLoader sync(data, 8, 3, true, true, kMean, kStd, false);
  BatchLoader async(data, 8, 3, true, true, kMean, kStd, true);
  for (int64_t e = 0; e < 3; ++e) {
    Collected a = run_epoch(sync, e), b = run_epoch(async, e);
    EXPECT_EQ(a.labels.size(), 6u);
    EXPECT_EQ(a.images, b.images);
    EXPECT_EQ(a.labels, b.labels);
  }
  EXPECT_NE(run_epoch(sync, 0).labels, run_epoch(sync, 1).labels);
}

TEST(BatchLoader, ExplicitOrderAndRestartMidEpoch) {
  Dataset data = make_dataset(12);
  BatchLoader loader(data, 2, 0, true, false, kMean, kStd, true);
  loader.start_epoch(0);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  loader.start_epoch_with_order({11, 3, 7});  // e.g. one rank's slice
  EXPECT_EQ(loader.batches_in_epoch(), 2);
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.index, 0);
  EXPECT_EQ(std::vector<int32_t>(batch.labels.data<int32_t>(), batch.labels.data<int32_t>() + 2),
            (std::vector<int32_t>{11, 3}));
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.index, 1);
  ASSERT_EQ(batch.labels.numel(), 1);
  EXPECT_EQ(batch.labels.data<int32_t>()[0], 7);
  EXPECT_FALSE(loader.next(batch));
}

TEST(BatchLoader, WorkerErrorReachesCaller) {
  Dataset data = make_dataset(4);
  for (bool prefetch : {false, true}) {
    BatchLoader loader(data, 2, 0, false, false, kMean, kStd, prefetch);
    loader.start_epoch_with_order({0, 1, 2, 99, 3, 2});
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
    testing::expect_invalid_input([&] { loader.next(batch); }, {"index 99", "4 samples"});
    EXPECT_FALSE(loader.next(batch));  // the failed epoch is over
    Collected next_epoch = run_epoch(loader, 1);  // and the loader remains usable
    EXPECT_EQ(next_epoch.labels.size(), 2u);
  }
}

TEST(BatchLoader, DestructorJoinsMidEpoch) {
  Dataset data = make_dataset(40);
  for (int repeat = 0; repeat < 20; ++repeat) {
    BatchLoader loader(data, 4, 1, true, true, kMean, kStd, true);
    loader.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
  }
  BatchLoader never_started(data, 4, 1, true, true, kMean, kStd, true);
  Batch batch;
  EXPECT_FALSE(never_started.next(batch));
}

TEST(BatchLoader, RejectsBadArguments) {
  Dataset data = make_dataset(5);
  testing::expect_invalid_input([&] { BatchLoader(data, 0, 0, true, true, kMean, kStd, false); }, {"batch_size"});
  testing::expect_invalid_input([&] { BatchLoader(data, 6, 0, true, true, kMean, kStd, false); },
                                {"batch_size 6", "5 samples"});
  testing::expect_invalid_input([&] { BatchLoader(data, 2, 0, true, true, kMean, 0.0f, true); }, {"std_dev"});
  BatchLoader eval(data, 6, 0, false, false, kMean, kStd, true);  // one short batch is fine for eval
  Collected epoch = run_epoch(eval, 0);
  ASSERT_EQ(epoch.labels.size(), 1u);
  EXPECT_EQ(epoch.labels[0].size(), 5u);
}

}  // namespace
}  // namespace joule
