// DataFeed: batches addressed by (epoch, offset, batch). A batch history with changes mid-epoch
// serves each sample at most once per epoch, in the permutation's order, and a seek to a saved
// (epoch, offset) continues exactly where the history would have gone (a mid-epoch resume).
#include "distributed/data_feed.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/dataset.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

class DataFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir("joule-feed");
    const testing::SyntheticFiles f = testing::write_synthetic_dataset(dir_, 1000, 10, 4);
    data_ = load_dataset(f.train_images, f.train_labels, 10, 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  Dataset data_;
};

// The ids every rank of `world` serves at `batches` (one global batch each), concatenated per step.
std::vector<int64_t> serve(const Dataset& data, int world, int64_t epoch, int64_t offset,
                           const std::vector<int64_t>& batches) {
  std::vector<std::unique_ptr<DataFeed>> feeds;
  for (int r = 0; r < world; ++r) {
    feeds.push_back(std::make_unique<DataFeed>(data, DataFeedOptions{11, world, r, 0.f, 1.f, r % 2 == 0}));
    feeds.back()->seek(epoch, offset, batches.front());
  }
  std::vector<int64_t> ids;
  Batch batch;
  for (int64_t b : batches)
    for (auto& feed : feeds) {
      if (feed->global_batch() != b) feed->set_global_batch(b);
      if (!feed->next(batch)) return ids;
      EXPECT_EQ(batch.labels.numel(), b / world);
      const std::vector<int64_t> mine = feed->last_ids();
      ids.insert(ids.end(), mine.begin(), mine.end());
    }
  return ids;
}

TEST_F(DataFeedTest, ChangingBatchesFollowThePermutationWithoutRepeats) {
  const std::vector<int64_t> permutation = epoch_permutation(1000, 11, 3);
  const std::vector<int64_t> ids = serve(data_, 2, 3, 0, {100, 100, 300, 50, 250, 200});
  ASSERT_EQ(ids.size(), 1000u);
  EXPECT_EQ(ids, permutation) << "the global batches tile the epoch's permutation in order";
}

TEST_F(DataFeedTest, TheEpochEndsWhenLessThanABatchRemains) {
  DataFeed feed(data_, DataFeedOptions{11, 1, 0, 0.f, 1.f, true});
  feed.seek(0, 900, 64);
  Batch batch;
  EXPECT_TRUE(feed.next(batch));
  EXPECT_EQ(feed.offset(), 964);
  EXPECT_FALSE(feed.next(batch)) << "36 samples left, fewer than 64";
  EXPECT_EQ(feed.offset(), 964) << "nothing consumed";
}

TEST_F(DataFeedTest, SeekToASavedPositionContinuesTheSameBatches) {
  const std::vector<int64_t> whole = serve(data_, 2, 1, 0, {100, 200, 100, 300});
  const std::vector<int64_t> resumed = serve(data_, 2, 1, 300, {100, 300});
  ASSERT_EQ(resumed.size(), 400u);
  EXPECT_TRUE(std::equal(resumed.begin(), resumed.end(), whole.begin() + 300));
}

TEST_F(DataFeedTest, BadBatchesAreRefused) {
  DataFeed feed(data_, DataFeedOptions{11, 4, 0, 0.f, 1.f, false});
  EXPECT_THROW(feed.seek(0, 0, 102), Error) << "not a multiple of 4 ranks";
  EXPECT_THROW(feed.seek(0, 0, 1004), Error) << "more than the training set";
}

}  // namespace
}  // namespace joule
