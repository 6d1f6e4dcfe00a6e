// Learning-rate schedules as pure functions of the 0-based step, so every rank and a resumed run
// agree without state.
#pragma once

#include <cstdint>

namespace joule {

enum class ScheduleKind {
  constant,       // base_lr at every step
  warmup_cosine,  // linear warm-up, then cosine decay to min_lr_ratio * base_lr
  warmup_stable_decay,  // linear warm-up, base_lr, then a linear decay over the last decay_fraction of the steps
};

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::constant;
  float base_lr = 0.0f;
  int64_t warmup_steps = 0;  // warmup_cosine: steps 0..warmup_steps-1 ramp up linearly
  int64_t total_steps = 0;   // warmup_cosine: the minimum is reached at step total_steps - 1
  float min_lr_ratio = 0.0f;  // in [0, 1]
  float decay_fraction = 0.2f;  // warmup_stable_decay: (0, 1]
};

// The learning rate at `step` (0-based). warmup_cosine:
//   step < warmup_steps:  base_lr * (step + 1) / warmup_steps
//   otherwise:            min + (base_lr - min) * (1 + cos(pi * s / S)) / 2, with min = min_lr_ratio *
//                         base_lr, s = step - warmup_steps, S = total_steps - 1 - warmup_steps
//                         (S = 0: the minimum); steps past the end stay at the minimum.
// warmup_stable_decay: the same warm-up; then base_lr until step D = total_steps − ⌈decay_fraction ·
//   (total_steps − warmup_steps)⌉ (not before warmup_steps); then min + (base_lr − min) · (1 − s/S)
//   with s = step − D, S = total_steps − 1 − D (the minimum at the last step and after).
// Invalid fields (negative lr or steps, warmup_steps > total_steps, ratio outside [0, 1]) throw
// invalid_input naming the field.
float lr_at(const LrSchedule& schedule, int64_t step);

}  // namespace joule
