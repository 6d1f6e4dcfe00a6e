#include "distributed/step_runner.h"

#include <cmath>

#include "core/clock.h"
#include "energy/estimate_meter.h"
#include "ops/softmax_cross_entropy.h"

namespace joule {

StepRunner::StepRunner(Context& ctx, Model& model, GradientReducer& reducer, energy::PhaseClock& clock, bool overlap)
    : ctx_(ctx), model_(model), reducer_(reducer), clock_(clock), overlap_(overlap) {}

StepStats StepRunner::run(const Batch& batch, int micro_batches, int64_t global_batch, int world, uint64_t step) {
  const int64_t rows = batch.labels.numel() / micro_batches;
  JOULE_ASSERT(rows * micro_batches == batch.labels.numel(), micro_batches, " micro-batches do not divide ",
               batch.labels.numel(), " rows");
  StepStats stats;
  reducer_.begin_step();
  for (int m = 0; m < micro_batches; ++m) {
    ctx_.step = step * 256 + static_cast<uint64_t>(m);  // distinct dropout masks per micro-batch
    Tensor images = batch.images.rows(m * rows, (m + 1) * rows);
    Tensor labels = batch.labels.rows(m * rows, (m + 1) * rows);
    if (images.device() != ctx_.device) {  // host batches onto the device (buffers kept across steps)
      clock_.enter(energy::Phase::data, monotonic_seconds());
      images = to_context_device(ctx_, images, device_images_);
      labels = to_context_device(ctx_, labels, device_labels_);
    }
    clock_.enter(energy::Phase::forward, monotonic_seconds());
    const Tensor& logits = model_.forward(ctx_, images, /*training=*/true);
    stats.loss_sum += softmax_cross_entropy_forward(ctx_, probs_, logits, labels);
    clock_.enter(energy::Phase::backward, monotonic_seconds());
    // 1/B (the global batch): summed over micro-batches and ranks this is the global mean gradient
    softmax_cross_entropy_backward(ctx_, dlogits_, probs_, labels, 1.0f / static_cast<float>(global_batch));
    const bool last = m + 1 == micro_batches;
    Model::GradReadyFn on_ready;
    if (last && overlap_) on_ready = [this](int id) { reducer_.on_grad_ready(id); };
    model_.backward(ctx_, dlogits_, m == 0 ? GradMode::overwrite : GradMode::accumulate, on_ready);
  }
  ctx_.step = step;
  clock_.enter(energy::Phase::comm_wait, monotonic_seconds());
  reducer_.finish(1.0f);
  // this rank's gradient is (its samples / B) × its mean gradient g_r = g_r / world
  stats.local_grad_sq = reducer_.local_sq_norm() * static_cast<double>(world) * world;
  stats.global_grad_sq = reducer_.global_sq_norm();
  stats.finite = std::isfinite(stats.loss_sum) && std::isfinite(stats.local_grad_sq) &&
                 std::isfinite(stats.global_grad_sq);
  return stats;
}

}  // namespace joule
