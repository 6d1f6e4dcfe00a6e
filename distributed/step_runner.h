// StepRunner: one optimizer step's computation on this rank, without I/O: the rank's shard of the
// global batch in micro-batches (forward, loss, backward with 1/B scaling), then the gradient
// all-reduce (bucketed, overlapped with the last micro-batch's backward). The optimizer update is
// not part of it: the trainer applies it only after every rank agreed the step is finite.
#pragma once

#include <cstdint>

#include "core/batch_loader.h"
#include "core/context.h"
#include "distributed/gradient_reducer.h"
#include "energy/phase_clock.h"
#include "ops/model.h"

namespace joule {

struct StepStats {
  double loss_sum = 0;        // this rank's summed loss over its samples
  double local_grad_sq = 0;   // |g_r|²: this rank's mean gradient over its own samples (0 unless measured)
  double global_grad_sq = 0;  // |G|²: the all-reduced mean gradient over the global batch (0 unless measured)
  bool finite = true;         // loss and (when measured) gradients finite on this rank
};

class StepRunner {
 public:
  // ctx, model and reducer must outlive the runner; `clock` gets the phase boundaries.
  StepRunner(Context& ctx, Model& model, GradientReducer& reducer, energy::PhaseClock& clock, bool overlap);

  // Trains on `batch` (this rank's rows) as `micro_batches` equal parts; global_batch is B (all
  // ranks), world the rank count. After it, the arena's gradients hold the global mean gradient.
  StepStats run(const Batch& batch, int micro_batches, int64_t global_batch, int world, uint64_t step);

 private:
  Context& ctx_;
  Model& model_;
  GradientReducer& reducer_;
  energy::PhaseClock& clock_;
  bool overlap_;
  Tensor probs_, dlogits_;
  Tensor device_images_, device_labels_;  // the micro-batch on a GPU context's device
};

}  // namespace joule
