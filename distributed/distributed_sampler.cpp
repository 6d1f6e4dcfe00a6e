#include "distributed/distributed_sampler.h"

#include "core/dataset.h"
#include "core/error.h"

namespace joule {

int64_t batches_per_epoch(const ShardSpec& spec) { return spec.samples / spec.global_batch; }

int64_t local_batch(const ShardSpec& spec) { return spec.global_batch / spec.world_size; }

std::vector<int64_t> rank_epoch_order(const ShardSpec& spec, uint64_t seed, int64_t epoch) {
  JOULE_CHECK(spec.world_size >= 1 && spec.rank >= 0 && spec.rank < spec.world_size, "rank ", spec.rank,
              " outside a world of ", spec.world_size);
  JOULE_CHECK(spec.global_batch >= 1 && spec.global_batch % spec.world_size == 0, "train.batch_size = ",
              spec.global_batch, ": expected a multiple of the ", spec.world_size, " ranks");
  JOULE_CHECK(spec.global_batch <= spec.samples, "train.batch_size = ", spec.global_batch, ": expected at most the ",
              spec.samples, " training samples");
  const std::vector<int64_t> permutation = epoch_permutation(spec.samples, seed, epoch);
  const int64_t batches = batches_per_epoch(spec), shard = local_batch(spec);
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(batches * shard));
  for (int64_t k = 0; k < batches; ++k) {
    const auto begin = permutation.begin() + k * spec.global_batch + spec.rank * shard;
    order.insert(order.end(), begin, begin + shard);
  }
  return order;
}

std::vector<int64_t> rank_eval_order(int64_t samples, int world_size, int rank) {
  std::vector<int64_t> order;
  for (int64_t i = rank; i < samples; i += world_size) order.push_back(i);
  return order;
}

}  // namespace joule
