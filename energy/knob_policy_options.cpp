// Validation of KnobPolicyOptions (knob_policy.h): invalid input (exit 2) naming the option.
#include "energy/knob_policy.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>

namespace joule::energy {

void validate_knob_policy(const KnobPolicyOptions& o, const Setting& start) {
  JOULE_CHECK(!o.batches.empty(), "knob policy: batches: at least one candidate batch");
  for (size_t i = 0; i < o.batches.size(); ++i) {
    JOULE_CHECK(o.batches[i] > 0, "knob policy: batches: ", o.batches[i], " is not positive");
    JOULE_CHECK(i == 0 || o.batches[i] > o.batches[i - 1], "knob policy: batches must be strictly ascending");
  }
  JOULE_CHECK(!o.precisions.empty(), "knob policy: precisions: at least one candidate precision");
  for (size_t i = 0; i < o.precisions.size(); ++i) {
    const std::string& p = o.precisions[i];
    JOULE_CHECK(p == "f32" || p == "bf16" || p == "f16", "knob policy: precisions: unknown precision '", p, "'");
    JOULE_CHECK(std::count(o.precisions.begin(), o.precisions.end(), p) == 1, "knob policy: precisions: '", p,
                "' twice");
  }
  JOULE_CHECK(std::count(o.batches.begin(), o.batches.end(), start.batch) == 1, "knob policy: start batch ",
              start.batch, " is not among the candidate batches");
  JOULE_CHECK(std::count(o.precisions.begin(), o.precisions.end(), start.precision) == 1,
              "knob policy: start precision '", start.precision, "' is not among the candidates");
  JOULE_CHECK(o.reference_batch > 0, "knob policy: reference_batch must be positive");
  JOULE_CHECK(o.eta >= 0 && o.eta <= 1, "knob policy: eta must lie in [0, 1], got ", o.eta);
  JOULE_CHECK(o.p_max_w >= 0 && std::isfinite(o.p_max_w), "knob policy: p_max_w must be ≥ 0");
  JOULE_CHECK(o.max_slowdown == 0 || o.max_slowdown >= 1, "knob policy: max_slowdown must be 0 (off) or ≥ 1, got ",
              o.max_slowdown);
  JOULE_CHECK(o.max_explore_fraction >= 0 && o.max_explore_fraction <= 1,
              "knob policy: max_explore_fraction must lie in [0, 1]");
  JOULE_CHECK(o.warmup_s >= 0 && o.transient_s >= 0, "knob policy: warmup_s and transient_s must be ≥ 0");
  JOULE_CHECK(o.measure_s > 0 && o.reevaluate_s > 0 && o.stale_s > 0 && o.measure_half_life_s > 0,
              "knob policy: measure_s, reevaluate_s, stale_s and measure_half_life_s must be positive");
  JOULE_CHECK(o.noise_half_life_s > 0, "knob policy: noise_half_life_s must be positive, got ", o.noise_half_life_s);
  JOULE_CHECK(o.reevaluate_noise_ratio == 0 || o.reevaluate_noise_ratio > 1,
              "knob policy: reevaluate_noise_ratio must be 0 (off) or > 1, got ", o.reevaluate_noise_ratio);
  JOULE_CHECK(o.hysteresis >= 0 && o.hysteresis < 1, "knob policy: hysteresis must lie in [0, 1)");
  JOULE_CHECK(o.confirm_margin >= 0, "knob policy: confirm_margin must be ≥ 0, got ", o.confirm_margin);
  JOULE_CHECK(o.loss_tolerance >= 0 && o.refresh_margin >= 0,
              "knob policy: loss_tolerance and refresh_margin must be ≥ 0");
}

}  // namespace joule::energy
