#include "ops/lr_scaling.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace joule {

LrScaling parse_lr_scaling(const std::string& name) {
  if (name == "none") return LrScaling::none;
  if (name == "sqrt") return LrScaling::sqrt;
  if (name == "linear") return LrScaling::linear;
  if (name == "adascale") return LrScaling::adascale;
  JOULE_FAIL_INPUT("train.lr_scaling = \"", name, "\": expected none, sqrt, linear or adascale");
}

const char* lr_scaling_name(LrScaling scaling) {
  switch (scaling) {
    case LrScaling::none: return "none";
    case LrScaling::sqrt: return "sqrt";
    case LrScaling::linear: return "linear";
    case LrScaling::adascale: return "adascale";
  }
  return "?";
}

void GradientNoiseEstimate::observe(double mean_local_sq, double global_sq, int ranks, int64_t local_batch) {
  if (ranks < 2 || !std::isfinite(mean_local_sq) || !std::isfinite(global_sq)) return;
  const double n = ranks, b = static_cast<double>(local_batch);
  const double sq = (n * global_sq - mean_local_sq) / (n - 1);
  const double trace = n * b * (mean_local_sq - global_sq) / (n - 1);
  sq_ = smoothing_ * sq_ + (1 - smoothing_) * sq;
  trace_ = smoothing_ * trace_ + (1 - smoothing_) * trace;
  weight_ = smoothing_ * weight_ + (1 - smoothing_);
}

double GradientNoiseEstimate::gradient_sq() const { return ready() ? std::max(sq_ / weight_, 1e-30) : 1e-30; }

double GradientNoiseEstimate::variance_trace() const { return ready() ? std::max(trace_ / weight_, 0.0) : 0.0; }

double lr_scale(LrScaling scaling, int64_t batch, int64_t reference_batch, const GradientNoiseEstimate& noise) {
  JOULE_ASSERT(batch > 0 && reference_batch > 0, "batch ", batch, " reference ", reference_batch);
  const double s = static_cast<double>(batch) / static_cast<double>(reference_batch);
  switch (scaling) {
    case LrScaling::none: return 1;
    case LrScaling::sqrt: return std::sqrt(s);
    case LrScaling::linear: return s;
    case LrScaling::adascale: {
      if (!noise.ready()) return 1;
      const double var = noise.variance_trace(), sq = noise.gradient_sq();
      return (var / static_cast<double>(reference_batch) + sq) / (var / static_cast<double>(batch) + sq);
    }
  }
  return 1;
}

double schedule_progress(LrScaling scaling, int64_t batch, int64_t reference_batch, const GradientNoiseEstimate& noise) {
  if (scaling == LrScaling::adascale) return lr_scale(scaling, batch, reference_batch, noise) * reference_batch;
  return static_cast<double>(batch);
}

}  // namespace joule
