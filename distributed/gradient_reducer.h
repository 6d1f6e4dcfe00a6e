// GradientReducer: the data-parallel gradient all-reduce, bucketed and overlapped with backward.
// The flat gradient array of a ParameterArena is cut into buckets; each bucket is summed over all
// ranks with one non-blocking all-reduce as soon as backward has produced all of its gradients,
// and finish() waits for the rest and scales (1/world for the mean; 1/(world·micro-batches) with
// gradient accumulation).
//
// Buckets: parameters are walked in REVERSE id order (the order Model::backward reports them) and
// a bucket is closed at a parameter boundary as soon as it holds ≥ its cap (bucket 0:
// first_bucket_mb, later ones bucket_mb; MB = 2^20 bytes, as PyTorch DDP's bucket_cap_mb). A
// bucket over ids [low, high] is the element range [offset(low), offset(high + 1)) of grads()
// (the arena's end for the last id): padding included, so the buckets tile the arena exactly, in
// descending offsets, and a bucket exceeds its cap by less than its last-added parameter.
//
// Invariants:
// - Buckets are launched strictly in bucket order on every rank (bucket k only after k−1), so the
//   ranks' non-blocking collectives always match, whatever order readiness arrives in on each rank:
//   a bucket that is ready early is held until all buckets before it are launched.
// - Between a bucket's launch and finish(), its range of grads() belongs to the communicator:
//   nothing may read or write it (backward only writes gradients not yet reported ready).
// - Per step: begin_step(), then either every parameter reported exactly once through
//   on_grad_ready() (overlap: pass it to Model::backward on the LAST micro-batch only) or none
//   (finish() then reduces every bucket itself), then finish(). A parameter reported twice, or
//   finish() with some but not all reported, is an internal error (JOULE_ASSERT).
// - With overlap off, on_grad_ready() only records readiness; finish() reduces every bucket
//   with blocking all-reduces.
// - With one rank (comm.size() == 1) nothing is communicated: finish() only scales. Readiness is
//   still checked, so single-process runs catch misuse too.
// - Every call comes from the thread that owns the communicator; progress of in-flight buckets is
//   driven by test() calls from on_grad_ready() (MPI is funneled: no progress thread).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/communicator.h"
#include "ops/parameters.h"

namespace joule {

struct ReducerOptions {
  double bucket_mb = 25;       // cap of every bucket after the first, MB (2^20 bytes); > 0
  double first_bucket_mb = 1;  // cap of bucket 0 (the last layers, ready first): small to start early
  bool overlap = true;         // false: reduce everything in finish(), blocking
};

class GradientReducer {
 public:
  // One bucket: grads()[begin, end) holding parameters low_id..high_id (and their padding).
  struct Bucket {
    int64_t begin = 0;
    int64_t end = 0;
    int low_id = 0;
    int high_id = -1;
    int64_t elements() const { return end - begin; }
  };

  // The arena must be allocated and outlive the reducer; so must comm. Throws invalid_input for
  // caps ≤ 0 or not finite.
  GradientReducer(ParameterArena& arena, Communicator& comm, ReducerOptions options = {});
  ~GradientReducer();  // buckets in flight (after an exception) wait in their requests' destructors
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Starts a step: forgets the previous step's readiness. Asserts no bucket is in flight.
  void begin_step();
  // Parameter id's gradient is final for this step: launches every bucket now complete (in order)
  // and drives progress of those in flight.
  void on_grad_ready(int id);
  // Completes the all-reduce of every bucket (waiting for launched ones; with overlap off or no
  // readiness reported, reducing all now, blocking), then grads() *= scale (skipped for 1). The
  // step ends here; the next may start without begin_step().
  void finish(float scale);

  int bucket_count() const { return static_cast<int>(buckets_.size()); }
  const Bucket& bucket(int k) const { return buckets_.at(static_cast<size_t>(k)); }
  int bucket_of(int id) const { return bucket_of_.at(static_cast<size_t>(id)); }
  int buckets_launched() const { return launched_; }  // in this step so far
  // Seconds finish() spent blocked on communication in the last step (excludes the scaling);
  // with overlap, what the all-reduce did not hide behind backward.
  double comm_wait_seconds() const { return comm_wait_seconds_; }
  // Seconds the last step's on_grad_ready() calls spent inside the communicator (launches, test()).
  // Where no core is free to move data (shared memory, every core computing) the all-reduce's work
  // happens here, inside backward: comm_wait falls but the step does not get faster.
  double progress_seconds() const { return progress_seconds_; }
  const ReducerOptions& options() const { return options_; }
  // Squared L2 norms of the last finished step's gradients (after finish()'s scale): this rank's
  // contribution before the reduction (when `local`), and the reduced sum (when `global`; also a
  // finiteness check). Each costs one extra pass over the gradients; 0 when not measured.
  void set_measure_norms(bool local, bool global) {
    measure_norms_ = local;
    measure_global_ = global || local;
  }
  double local_sq_norm() const { return last_local_sq_norm_; }
  double global_sq_norm() const { return last_global_sq_norm_; }

 private:
  void launch_ready_buckets();
  void drive_progress();
  void reset_step();

  ParameterArena& arena_;
  Communicator& comm_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;  // by parameter id
  // This step's state.
  std::vector<char> ready_;       // by parameter id
  std::vector<int> pending_;      // by bucket: parameters not yet ready
  std::vector<std::unique_ptr<CommRequest>> requests_;  // by bucket; null until launched
  int ready_count_ = 0;
  int launched_ = 0;       // buckets [0, launched_) are launched
  int first_unfinished_ = 0;  // buckets below it are known complete
  double step_progress_seconds_ = 0;  // accumulates during the step
  double comm_wait_seconds_ = 0;
  double progress_seconds_ = 0;
  bool measure_norms_ = false;   // local (before the reduction)
  bool measure_global_ = false;  // after the reduction
  double local_sq_norm_ = 0;  // this step so far, over launched buckets
  double last_local_sq_norm_ = 0, last_global_sq_norm_ = 0;
  static double squared_norm(const float* data, int64_t count);
};

}  // namespace joule
