// BatchLoader: serves the batches of one epoch in order, preparing the next batch on a background
// thread while the caller trains on the current one (double buffering). Without prefetch each batch
// is prepared synchronously inside next(); both modes produce identical batches.
//
// Usage:  loader.start_epoch(e);  while (loader.next(batch)) train(batch);
// A batch handed out by next() (its tensors are views into the loader's buffers) stays valid until
// the following call to next() or start_epoch*(). An exception raised while preparing a batch in the
// background is rethrown by the next() that would have returned it, and ends the epoch.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/dataset.h"
#include "core/tensor.h"

namespace joule {

struct Batch {
  Tensor images;      // f32 [B, 1, H, W], normalized
  Tensor labels;      // i32 [B]
  int64_t index = 0;  // batch number within the epoch, from 0
};

class BatchLoader {
 public:
  // shuffle: each epoch follows epoch_permutation(N, seed, epoch), else 0..N-1.
  // drop_last: serve only full batches (training); otherwise the last batch may be smaller (eval).
  // The loader keeps its own reference to the dataset's tensors (they share storage).
  BatchLoader(const Dataset& data, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last, float mean,
              float std_dev, bool prefetch);
  ~BatchLoader();  // joins the worker, also mid-epoch
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts epoch `epoch` over the whole dataset (order as described for `shuffle`).
  void start_epoch(int64_t epoch);
  // Starts an epoch over exactly these sample indices, in this order (e.g. one rank's slice of
  // epoch_permutation from a distributed sampler). Indices outside [0, N) fail on the batch that
  // holds them.
  void start_epoch_with_order(std::vector<int64_t> order);

  // Hands out the next batch of the epoch; false once the epoch is exhausted.
  bool next(Batch& out);

  int64_t batch_size() const { return batch_size_; }
  int64_t batches_in_epoch() const;  // of the current epoch's order

 private:
  void prepare(int slot, int64_t batch);  // fills buffers_[slot] with batch number `batch`
  void submit(int slot, int64_t batch);   // hands a prepare() to the worker
  std::exception_ptr wait_idle();         // waits for the worker's job; returns (and clears) its error
  void worker_loop();

  Dataset data_;
  int64_t batch_size_;
  uint64_t seed_;
  bool shuffle_;
  bool drop_last_;
  float mean_;
  float std_dev_;
  bool prefetch_;

  std::vector<int64_t> order_;  // this epoch's sample order; read by the worker, so only changed idle
  int64_t next_batch_ = 0;      // the batch number next() hands out next
  Batch buffers_[2];            // full-size [batch_size, ...] storage; batches are row views
  Batch ready_[2];              // the prepared batch views per slot
  int ready_slot_ = -1;         // slot holding (or being filled with) batch next_batch_, -1 = none

  std::mutex mutex_;
  std::condition_variable wake_;
  bool has_job_ = false;
  int job_slot_ = 0;
  int64_t job_batch_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace joule
