// ProgressModel: how a simulated job's training progresses with the samples it trains (SimProgress
// in core/proto/sim.proto states the model): effective samples S_eff at the reference batch, the
// gradient noise scale B_noise(S_eff), the expected test accuracy and training loss, and measured
// accuracies with the binomial noise of a finite test set. Physics only: no controller here.
//
// Deterministic: the state is S_eff alone (a sum in step order), and an evaluation's noise is a
// pure function of (seed, evaluation index) (energy/sim/rank_variation.h's counter-based draws), so
// the same steps give the same bits whatever else was drawn. bf16 progresses like f32 per sample.
#pragma once

#include <cstdint>
#include <string>

#include "core/proto/sim.pb.h"

namespace joule::sim {

// Refused as "<origin>: progress.<field>: <why>" (the ranges sim.proto gives).
void validate_sim_progress(const pb::SimProgress& progress, const std::string& origin);

class ProgressModel {
 public:
  // progress validated; reference_batch B_ref ≥ 1 (the scenario's global_batch).
  ProgressModel(const pb::SimProgress& progress, int64_t reference_batch, uint64_t seed);

  // One optimizer step at global batch B ≥ 1: S_eff += B·(B_noise + B_ref)/(B_noise + B).
  void step(int64_t batch);
  double effective_samples() const { return effective_; }
  double noise_scale() const;  // B_noise(S_eff), samples
  double accuracy() const;     // expected test accuracy at S_eff, [0, 1]
  double loss() const;         // expected training loss at S_eff
  // The accuracy measured on test_size (≥ 1) samples at evaluation number `index` (0-based):
  // k/test_size, k ~ Binomial(test_size, accuracy()) by its normal approximation.
  double measured_accuracy(int64_t test_size, uint64_t index) const;

 private:
  pb::SimProgress p_;
  double reference_batch_;
  uint64_t seed_;
  double effective_ = 0;
};

}  // namespace joule::sim
