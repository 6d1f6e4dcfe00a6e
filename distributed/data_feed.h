// DataFeed: the training batches of one rank, addressed by (epoch, offset, global batch).
//
// Every rank derives the same permutation of the training set from (seed, epoch). The global batch
// at offset o of size B is perm[o, o + B); rank r of W takes its contiguous shard
// perm[o + r·B/W, o + (r+1)·B/W), so the union of one step's shards is exactly the single-process
// batch. The offset advances by B per batch; an epoch ends when fewer than B samples remain (they
// are dropped, as with a fixed batch). Changing the batch is "new size, same offset": within an
// epoch no sample repeats and none is skipped, whatever the batch history; a mid-epoch resume is
// seek(epoch, offset, B). B must divide by W.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/batch_loader.h"
#include "core/dataset.h"

namespace joule {

struct DataFeedOptions {
  uint64_t seed = 0;
  int world_size = 1;
  int rank = 0;
  float mean = 0;      // normalization (data.normalize_mean / normalize_std)
  float std_dev = 1;
  bool prefetch = true;  // prepare the next batch on a background thread
};

class DataFeed {
 public:
  DataFeed(const Dataset& train_set, const DataFeedOptions& options);

  // The next batches come from `epoch` at `offset` (samples of its permutation already trained)
  // with global batch `global_batch`. offset ≤ N; global_batch a multiple of W, 1 .. N.
  void seek(int64_t epoch, int64_t offset, int64_t global_batch);
  // New global batch from the current position (same epoch and offset).
  void set_global_batch(int64_t global_batch) { seek(epoch_, offset_, global_batch); }
  // This rank's shard of the next global batch (valid until the next call); false, consuming
  // nothing, when fewer than global_batch samples remain in the epoch.
  bool next(Batch& out);

  int64_t epoch() const { return epoch_; }
  int64_t offset() const { return offset_; }  // samples of the epoch consumed, all ranks
  int64_t global_batch() const { return global_batch_; }
  int64_t local_batch() const { return global_batch_ / options_.world_size; }
  // The dataset indices of the rows of the batch next() returned last (this rank's shard).
  std::vector<int64_t> last_ids() const;

 private:
  const Dataset& train_set_;
  DataFeedOptions options_;
  std::unique_ptr<BatchLoader> loader_;  // rebuilt when the local batch changes
  std::vector<int64_t> permutation_;     // of epoch permutation_epoch_
  int64_t permutation_epoch_ = -1;
  std::vector<int64_t> order_;           // this rank's samples from offset start_offset_ to the epoch's end
  int64_t start_offset_ = 0;
  int64_t served_ = 0;                   // batches served since the last seek
  int64_t epoch_ = 0, offset_ = 0, global_batch_ = 0;
};

}  // namespace joule
