// The knobs a run can turn at any step boundary (pb::Knobs: global batch, micro-batches, precision,
// per-rank SM clock), their bounds, and the scripted schedule (energy.schedule). A change is
// resolved to valid knobs here, identically on every rank (it depends only on the config, the
// rank count and the current knobs); the trainer applies it at the step boundary.
//
// Rules: the global batch is a multiple of the rank count within [energy.batch.min (0: the rank
// count), energy.batch.max (0: the training set)]; micro-batches divide the local batch — unless a
// change names them, a batch change keeps train.micro_batches (so micro-batch rows grow with the
// batch, which is what makes a larger batch cheaper per sample), or the smallest larger count that
// divides the local batch (at most 256).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/proto/config.pb.h"
#include "core/proto/train_state.pb.h"

namespace joule {

struct KnobBounds {
  int64_t min_batch = 1;
  int64_t max_batch = 1;
  int world = 1;
  int64_t micro_batches = 1;  // train.micro_batches: the count a batch change keeps where it divides
};

KnobBounds knob_bounds(const pb::Config& config, int world, int64_t train_samples);
pb::Knobs initial_knobs(const pb::Config& config, int world);

// `current` with the fields `change` sets; invalid values are input errors naming `field`.
pb::Knobs resolve_change(const pb::Knobs& current, const pb::KnobChange& change, const KnobBounds& bounds,
                         const std::string& field);
// "batch 128 -> 512, micro-batches 1 -> 4, precision f32 -> bf16, sm clock 0 -> 1410 MHz"; "" when equal.
std::string describe_change(const pb::Knobs& before, const pb::Knobs& after);

// Resolves every entry of energy.schedule in order (invalid ones fail here, before a run starts).
std::vector<pb::Knobs> resolve_schedule(const pb::Config& config, int world, int64_t train_samples);

}  // namespace joule
