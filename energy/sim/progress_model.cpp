// ProgressModel: effective samples, noise scale, accuracy and loss curves, noisy evaluations.
#include "energy/sim/progress_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "energy/sim/rank_variation.h"

namespace joule::sim {
namespace {

// The evaluation draws' purpose: distinct from RankVariation's (1..3), so they never coincide.
constexpr auto evaluation_draw = static_cast<SimDraw>(16);

void positive(double value, const std::string& origin, const char* field) {
  JOULE_CHECK(std::isfinite(value) && value > 0, origin, ": progress.", field, ": expected a value > 0, got ", value);
}

double power_decay(double s_eff, double scale, double exponent) { return std::pow(1 + s_eff / scale, -exponent); }

}  // namespace

void validate_sim_progress(const pb::SimProgress& p, const std::string& origin) {
  positive(p.noise_scale_b0(), origin, "noise_scale_b0");
  positive(p.noise_scale_samples(), origin, "noise_scale_samples");
  JOULE_CHECK(p.accuracy_0() >= 0 && p.accuracy_0() < p.accuracy_max() && p.accuracy_max() <= 1, origin,
              ": progress.accuracy_0 = ", p.accuracy_0(), ", progress.accuracy_max = ", p.accuracy_max(),
              ": expected 0 <= accuracy_0 < accuracy_max <= 1");
  positive(p.accuracy_scale_samples(), origin, "accuracy_scale_samples");
  positive(p.accuracy_exponent(), origin, "accuracy_exponent");
  JOULE_CHECK(std::isfinite(p.loss_0()) && p.loss_min() >= 0 && p.loss_min() < p.loss_0(), origin,
              ": progress.loss_min = ", p.loss_min(), ", progress.loss_0 = ", p.loss_0(),
              ": expected 0 <= loss_min < loss_0");
  positive(p.loss_scale_samples(), origin, "loss_scale_samples");
  positive(p.loss_exponent(), origin, "loss_exponent");
}

ProgressModel::ProgressModel(const pb::SimProgress& progress, int64_t reference_batch, uint64_t seed)
    : p_(progress), reference_batch_(static_cast<double>(reference_batch)), seed_(seed) {
  JOULE_ASSERT(reference_batch >= 1, "reference batch ", reference_batch);
}

double ProgressModel::noise_scale() const {
  return p_.noise_scale_b0() * (1 + effective_ / p_.noise_scale_samples());
}

void ProgressModel::step(int64_t batch) {
  JOULE_ASSERT(batch >= 1, "batch ", batch);
  const double b = static_cast<double>(batch), noise = noise_scale();
  effective_ += b * (noise + reference_batch_) / (noise + b);
}

double ProgressModel::accuracy() const {
  return p_.accuracy_max() - (p_.accuracy_max() - p_.accuracy_0()) *
                                 power_decay(effective_, p_.accuracy_scale_samples(), p_.accuracy_exponent());
}

double ProgressModel::loss() const {
  return p_.loss_min() + (p_.loss_0() - p_.loss_min()) * power_decay(effective_, p_.loss_scale_samples(), p_.loss_exponent());
}

double ProgressModel::measured_accuracy(int64_t test_size, uint64_t index) const {
  JOULE_ASSERT(test_size >= 1, "test_size ", test_size);
  const double n = static_cast<double>(test_size), p = accuracy();
  const double z = sim_random(seed_, evaluation_draw, 0, index).normal;
  const double k = std::clamp(std::round(n * p + z * std::sqrt(n * p * (1 - p))), 0.0, n);
  return k / n;
}

}  // namespace joule::sim
