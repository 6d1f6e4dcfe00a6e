// The distributed sampler: disjoint shards, equal counts, and global batches identical to the
// single-process order — the property the rank-count equivalence of training rests on.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/dataset.h"
#include "distributed/distributed_sampler.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

TEST(DistributedSampler, ShardsAreDisjointEqualAndRebuildTheGlobalBatches) {
  const int64_t n = 1003, batch = 96;
  for (int world : {1, 2, 3, 4}) {
    const ShardSpec base{n, batch, world, 0};
    const int64_t shard = local_batch(base), batches = batches_per_epoch(base);
    ASSERT_EQ(batches, n / batch);
    std::vector<std::vector<int64_t>> orders;
    for (int r = 0; r < world; ++r) orders.push_back(rank_epoch_order({n, batch, world, r}, 7, 2));
    std::set<int64_t> seen;
    for (const auto& order : orders) {
      ASSERT_EQ(static_cast<int64_t>(order.size()), batches * shard);  // equal counts: nobody waits
      for (int64_t i : order) EXPECT_TRUE(seen.insert(i).second) << "sample " << i << " on two ranks";
    }
    // global batch k = concatenation of every rank's k-th shard = the single-process batch k
    const std::vector<int64_t> single = rank_epoch_order({n, batch, 1, 0}, 7, 2);
    for (int64_t k = 0; k < batches; ++k) {
      std::vector<int64_t> global;
      for (const auto& order : orders) global.insert(global.end(), order.begin() + k * shard, order.begin() + (k + 1) * shard);
      EXPECT_TRUE(std::equal(global.begin(), global.end(), single.begin() + k * batch)) << "world " << world;
    }
  }
}

TEST(DistributedSampler, EpochsAndSeedsChangeTheOrder) {
  const ShardSpec spec{500, 50, 2, 1};
  EXPECT_EQ(rank_epoch_order(spec, 1, 0), rank_epoch_order(spec, 1, 0));
  EXPECT_NE(rank_epoch_order(spec, 1, 0), rank_epoch_order(spec, 1, 1));
  EXPECT_NE(rank_epoch_order(spec, 1, 0), rank_epoch_order(spec, 2, 0));
}

TEST(DistributedSampler, BatchMustDivideByWorldSize) {
  testing::expect_invalid_input([] { rank_epoch_order({100, 10, 3, 0}, 1, 0); },
                                {"train.batch_size = 10", "multiple of the 3 ranks"});
  testing::expect_invalid_input([] { rank_epoch_order({100, 200, 2, 0}, 1, 0); }, "at most the 100");
}

TEST(DistributedSampler, EvalOrderCoversTheTestSetOnce) {
  std::vector<int64_t> all;
  for (int r = 0; r < 3; ++r) {
    const std::vector<int64_t> order = rank_eval_order(10, 3, r);
    all.insert(all.end(), order.begin(), order.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(10);
  for (int64_t i = 0; i < 10; ++i) expected[static_cast<size_t>(i)] = i;
  EXPECT_EQ(all, expected);
}

}  // namespace
}  // namespace joule
