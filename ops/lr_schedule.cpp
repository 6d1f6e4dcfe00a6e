// Learning-rate schedules (see lr_schedule.h).
#include "ops/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace joule {

float lr_at(const LrSchedule& schedule, int64_t step) {
  JOULE_CHECK(std::isfinite(schedule.base_lr) && schedule.base_lr >= 0.0f,
              "schedule: base_lr must be >= 0, got ", schedule.base_lr);
  JOULE_CHECK(step >= 0, "lr_at: step must be >= 0, got ", step);
  switch (schedule.kind) {
    case ScheduleKind::constant:
      return schedule.base_lr;
    case ScheduleKind::warmup_cosine:
    case ScheduleKind::warmup_stable_decay:
      break;
  }
  const int64_t total = schedule.total_steps;
  const int64_t warmup = schedule.warmup_steps;
  JOULE_CHECK(total >= 1, "schedule: total_steps must be >= 1 for a warm-up schedule, got ", total);
  JOULE_CHECK(warmup >= 0 && warmup <= total, "schedule: warmup_steps must be in [0, total_steps = ", total,
              "], got ", warmup);
  JOULE_CHECK(schedule.min_lr_ratio >= 0.0f && schedule.min_lr_ratio <= 1.0f,
              "schedule: min_lr_ratio must be in [0, 1], got ", schedule.min_lr_ratio);

  JOULE_CHECK(schedule.kind != ScheduleKind::warmup_stable_decay ||
                  (schedule.decay_fraction > 0.0f && schedule.decay_fraction <= 1.0f),
              "schedule: decay_fraction must be in (0, 1], got ", schedule.decay_fraction);
  const double base = schedule.base_lr;
  if (step < warmup) return static_cast<float>(base * static_cast<double>(step + 1) / static_cast<double>(warmup));
  const double min_lr = base * static_cast<double>(schedule.min_lr_ratio);
  if (schedule.kind == ScheduleKind::warmup_stable_decay) {
    // (1e-6: a float fraction like 0.2f is 0.2000000003, whose product must not round up a step)
    const auto decay_steps = static_cast<int64_t>(
        std::ceil(static_cast<double>(schedule.decay_fraction) * static_cast<double>(total - warmup) - 1e-6));
    const int64_t decay_start = std::max(warmup, total - decay_steps);
    if (step < decay_start) return static_cast<float>(base);
    const int64_t length = total - 1 - decay_start;
    const double done = length <= 0 || step >= total - 1 ? 1.0
                                                          : static_cast<double>(step - decay_start) / static_cast<double>(length);
    return static_cast<float>(min_lr + (base - min_lr) * (1.0 - done));
  }
  const int64_t span = total - 1 - warmup;
  const double progress =
      span <= 0 || step >= total - 1 ? 1.0 : static_cast<double>(step - warmup) / static_cast<double>(span);
  return static_cast<float>(min_lr + (base - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
}

}  // namespace joule
