// How the learning rate follows the global batch (train.lr_scaling), and AdaScale's gain.
//
// The schedule (ops/lr_schedule.h) is evaluated at the training progress measured in samples at
// the reference batch B0 (train.batch_size): after progress P samples it uses step ⌊P / B0⌋. With
// none/sqrt/linear a step of batch B advances P by B; with adascale by r·B0, r the gain below, so
// warm-up and decay follow scale-invariant progress (Johnson et al., AdaScale SGD, 2020).
//
// Gradient statistics (DESIGN.md §3): with N ranks of local batch b, |g_r|² the squared norm of rank
// r's mean gradient (over its b samples, averaged over ranks) and |G|² that of the global mean over
// B = N·b: |μ|² ≈ (N·|G|² − |g|²)/(N − 1) and the per-sample variance tr Σ ≈ N·b·(|g|² − |G|²)/(N − 1).
// Both are smoothed (exponential moving average, bias-corrected). AdaScale's gain at batch B:
// r = (tr Σ/B0 + |μ|²) / (tr Σ/B + |μ|²), in [1, B/B0] for B ≥ B0 (below 1 for a smaller batch).
// With one rank there is nothing to compare: the gain is 1.
#pragma once

#include <cstdint>
#include <string>

namespace joule {

enum class LrScaling { none, sqrt, linear, adascale };

LrScaling parse_lr_scaling(const std::string& name);  // "none" | "sqrt" | "linear" | "adascale"; else invalid input
const char* lr_scaling_name(LrScaling scaling);

class GradientNoiseEstimate {
 public:
  explicit GradientNoiseEstimate(double smoothing = 0.9) : smoothing_(smoothing) {}
  // One step's statistics: mean over ranks of |g_r|², |G|², the rank count and the local batch.
  // Ignored with one rank or non-finite inputs.
  void observe(double mean_local_sq, double global_sq, int ranks, int64_t local_batch);
  bool ready() const { return weight_ > 0; }
  double gradient_sq() const;     // smoothed |μ|² (≥ 1e-30)
  double variance_trace() const;  // smoothed tr Σ, per sample (≥ 0)
  // Pollux/McCandlish's simple noise scale B_simple = tr Σ / |μ|² (samples); 0 before any step.
  double noise_scale() const { return ready() ? variance_trace() / gradient_sq() : 0; }
  // The EMA sums and weight, for checkpoints.
  struct Sums {
    double sq = 0, trace = 0, weight = 0;
  };
  Sums sums() const { return {sq_, trace_, weight_}; }
  void restore(const Sums& sums) { sq_ = sums.sq, trace_ = sums.trace, weight_ = sums.weight; }

 private:
  double smoothing_;
  double sq_ = 0, trace_ = 0, weight_ = 0;  // EMA sums and their bias-correction weight
};

// The multiplier of the scheduled lr at global batch `batch` (reference `reference_batch`).
// adascale: the gain r from `noise` (1 until it is ready).
double lr_scale(LrScaling scaling, int64_t batch, int64_t reference_batch, const GradientNoiseEstimate& noise);
// How far one step of `batch` advances the schedule, in reference-batch samples.
double schedule_progress(LrScaling scaling, int64_t batch, int64_t reference_batch, const GradientNoiseEstimate& noise);

}  // namespace joule
