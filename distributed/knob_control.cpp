#include "distributed/knob_control.h"

#include <algorithm>

#include "core/error.h"

namespace joule {

KnobBounds knob_bounds(const pb::Config& config, int world, int64_t train_samples) {
  KnobBounds b;
  b.world = world;
  const pb::BatchKnobConfig& batch = config.energy().batch();
  b.min_batch = batch.min() > 0 ? batch.min() : world;
  b.max_batch = batch.max() > 0 ? std::min<int64_t>(batch.max(), train_samples) : train_samples;
  b.micro_batches = config.train().micro_batches();
  return b;
}

pb::Knobs initial_knobs(const pb::Config& config, int world) {
  pb::Knobs k;
  k.set_global_batch(static_cast<uint32_t>(config.train().batch_size()));
  k.set_micro_batches(static_cast<uint32_t>(config.train().micro_batches()));
  k.set_precision(config.train().precision());
  for (int r = 0; r < world; ++r) k.add_sm_clock_mhz(0);
  return k;
}

namespace {

// The smallest micro-batch count ≥ `count` that divides local (≤ 256; else the largest divisor below).
uint32_t follow_micro_batches(int64_t local, int64_t count) {
  for (int64_t k = std::max<int64_t>(1, count); k <= std::min<int64_t>(local, 256); ++k)
    if (local % k == 0) return static_cast<uint32_t>(k);
  for (int64_t k = std::min<int64_t>(local, count); k > 1; --k)
    if (local % k == 0) return static_cast<uint32_t>(k);
  return 1;
}

}  // namespace

pb::Knobs resolve_change(const pb::Knobs& current, const pb::KnobChange& change, const KnobBounds& bounds,
                         const std::string& field) {
  pb::Knobs next = current;
  if (change.has_batch_size()) {
    const int64_t b = change.batch_size();
    JOULE_CHECK(b % bounds.world == 0, field, ".batch_size = ", b, ": expected a multiple of the ", bounds.world,
                " ranks");
    JOULE_CHECK(b >= bounds.min_batch && b <= bounds.max_batch, field, ".batch_size = ", b, ": expected ",
                bounds.min_batch, " .. ", bounds.max_batch, " (energy.batch bounds and the training set)");
    next.set_global_batch(static_cast<uint32_t>(b));
  }
  const int64_t local = next.global_batch() / bounds.world;
  if (change.has_micro_batches()) {
    JOULE_CHECK(local % change.micro_batches() == 0, field, ".micro_batches = ", change.micro_batches(),
                ": expected a divisor of the local batch ", local);
    next.set_micro_batches(static_cast<uint32_t>(change.micro_batches()));
  } else if (change.has_batch_size()) {
    next.set_micro_batches(follow_micro_batches(local, bounds.micro_batches));
  }
  if (change.has_precision()) next.set_precision(change.precision());
  if (change.has_sm_clock_mhz())
    for (int r = 0; r < next.sm_clock_mhz_size(); ++r) next.set_sm_clock_mhz(r, static_cast<uint32_t>(change.sm_clock_mhz()));
  return next;
}

std::string describe_change(const pb::Knobs& before, const pb::Knobs& after) {
  std::string text;
  auto add = [&text](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (before.global_batch() != after.global_batch())
    add("batch " + std::to_string(before.global_batch()) + " -> " + std::to_string(after.global_batch()));
  if (before.micro_batches() != after.micro_batches())
    add("micro-batches " + std::to_string(before.micro_batches()) + " -> " + std::to_string(after.micro_batches()));
  if (before.precision() != after.precision()) add("precision " + before.precision() + " -> " + after.precision());
  const uint32_t clock_before = before.sm_clock_mhz_size() > 0 ? before.sm_clock_mhz(0) : 0;
  const uint32_t clock_after = after.sm_clock_mhz_size() > 0 ? after.sm_clock_mhz(0) : 0;
  if (clock_before != clock_after)
    add("sm clock " + std::to_string(clock_before) + " -> " + std::to_string(clock_after) + " MHz");
  return text;
}

std::vector<pb::Knobs> resolve_schedule(const pb::Config& config, int world, int64_t train_samples) {
  const KnobBounds bounds = knob_bounds(config, world, train_samples);
  std::vector<pb::Knobs> resolved;
  pb::Knobs knobs = initial_knobs(config, world);
  for (int i = 0; i < config.energy().schedule_size(); ++i) {
    knobs = resolve_change(knobs, config.energy().schedule(i), bounds, "energy.schedule[" + std::to_string(i) + "]");
    resolved.push_back(knobs);
  }
  return resolved;
}

}  // namespace joule
