// Distributed sampler: which training samples each rank sees in an epoch.
//
// Every rank derives the same permutation from (seed, epoch), cuts it into global batches of B
// (the last partial batch is dropped), and takes its contiguous shard of B/W samples from each:
// rank r, global batch k → perm[k·B + r·B/W, k·B + (r+1)·B/W). Shards never overlap, every rank
// gets the same number of batches (no rank waits at the end of an epoch), and the union of one
// step's shards is exactly the single-process batch — so the gradient averaged over ranks equals
// the single-process gradient up to summation order. B must divide by W.
#pragma once

#include <cstdint>
#include <vector>

namespace joule {

struct ShardSpec {
  int64_t samples = 0;       // N, training samples
  int64_t global_batch = 0;  // B
  int world_size = 1;        // W
  int rank = 0;              // r
};

// The rank's sample indices of `epoch`, in training order: batches_per_epoch(spec) × B/W entries.
std::vector<int64_t> rank_epoch_order(const ShardSpec& spec, uint64_t seed, int64_t epoch);

int64_t batches_per_epoch(const ShardSpec& spec);  // N / B
int64_t local_batch(const ShardSpec& spec);        // B / W

// The test set split for evaluation: rank r takes samples r, r+W, r+2W, ... (sizes differ by ≤ 1).
std::vector<int64_t> rank_eval_order(int64_t samples, int world_size, int rank);

}  // namespace joule
