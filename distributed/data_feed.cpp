#include "distributed/data_feed.h"

#include "core/error.h"

namespace joule {

DataFeed::DataFeed(const Dataset& train_set, const DataFeedOptions& options)
    : train_set_(train_set), options_(options) {
  JOULE_ASSERT(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size, "rank ",
               options.rank, " outside a world of ", options.world_size);
}

void DataFeed::seek(int64_t epoch, int64_t offset, int64_t global_batch) {
  const int64_t n = train_set_.size(), w = options_.world_size;
  JOULE_CHECK(global_batch >= 1 && global_batch <= n && global_batch % w == 0, "global batch ", global_batch,
              ": expected a multiple of the ", w, " ranks, at most the ", n, " training samples");
  JOULE_ASSERT(epoch >= 0 && offset >= 0 && offset <= n, "epoch ", epoch, " offset ", offset, " of ", n);
  if (permutation_epoch_ != epoch) {
    permutation_ = epoch_permutation(n, options_.seed, epoch);
    permutation_epoch_ = epoch;
  }
  const int64_t local = global_batch / w;
  order_.clear();
  for (int64_t o = offset; o + global_batch <= n; o += global_batch) {
    const auto begin = permutation_.begin() + o + options_.rank * local;
    order_.insert(order_.end(), begin, begin + local);
  }
  if (!loader_ || loader_->batch_size() != local)
    loader_ = std::make_unique<BatchLoader>(train_set_, local, options_.seed, /*shuffle=*/false, /*drop_last=*/true,
                                            options_.mean, options_.std_dev, options_.prefetch);
  loader_->start_epoch_with_order(order_);
  epoch_ = epoch;
  offset_ = offset;
  start_offset_ = offset;
  global_batch_ = global_batch;
  served_ = 0;
}

bool DataFeed::next(Batch& out) {
  JOULE_ASSERT(loader_ != nullptr, "DataFeed::next before seek");
  if (!loader_->next(out)) return false;
  ++served_;
  offset_ += global_batch_;
  return true;
}

std::vector<int64_t> DataFeed::last_ids() const {
  const int64_t local = local_batch();
  if (served_ == 0) return {};
  const auto begin = order_.begin() + (served_ - 1) * local;
  return std::vector<int64_t>(begin, begin + local);
}

}  // namespace joule
