// RankVariation: how the simulated ranks differ (SimHeterogeneity, core/proto/sim.proto) — each
// rank's fixed speed factor, its thermal drift over job time and its per-step jitter.
//
// Every random number is a pure function of (seed, purpose, rank, step): Philox4x32-10 (core/rng.h)
// on the counter (rank, step, purpose) under a key mixed from the seed. So a rank's jitter at a
// step does not depend on how many ranks there are, on the order of calls, or on what was drawn
// before, and the same scenario and seed give the same bits.
//
//   speed_r(t)    = factor_r · (1 − drift_r · (1 − exp(−t / thermal_tau_s)))
//   jitter_r,k    = exp(σ·z − σ²/2) · (straggler_factor if u < straggler_probability else 1)
// with z standard normal and u uniform in [0, 1), both drawn for (rank r, step k).
#pragma once

#include <cstdint>
#include <vector>

#include "core/proto/sim.pb.h"

namespace joule::sim {

// Uniform in [0, 1) with 53 bits, and a standard normal (Box-Muller), for (seed, purpose, rank, step).
enum class SimDraw : uint32_t { slow_rank = 1, thermal = 2, jitter = 3 };
struct SimRandom {
  double uniform_a, uniform_b, normal;  // two independent uniforms, and a normal from two more words
};
SimRandom sim_random(uint64_t seed, SimDraw purpose, uint32_t rank, uint64_t step);

class RankVariation {
 public:
  // heterogeneity validated (scenario.h); ranks ≥ 1.
  RankVariation(const pb::SimHeterogeneity& heterogeneity, int ranks, uint64_t seed);

  int ranks() const { return static_cast<int>(factor_.size()); }
  double factor(int rank) const { return factor_[rank]; }  // the fixed speed factor
  double drift(int rank) const { return drift_[rank]; }    // drift_r
  // 1 − exp(−t/τ) at job time t (s): the share of the drift reached; 0 without drift.
  double drift_progress(double job_time_s) const;
  double speed(int rank, double drift_progress) const { return factor_[rank] * (1 - drift_[rank] * drift_progress); }
  bool has_jitter() const { return sigma_ > 0 || straggler_probability_ > 0; }
  double jitter(int rank, int64_t step) const;  // 1 when !has_jitter()

 private:
  std::vector<double> factor_, drift_;
  uint64_t seed_;
  double sigma_, straggler_probability_, straggler_factor_, tau_s_;
};

}  // namespace joule::sim
