// ClusterModel: a deterministic discrete-event model of one synchronous data-parallel job (issue
// 13): n ranks, one GPU each (GpuModel), running forward, backward and a ring all-reduce of the
// gradients every step. Physics only: the clocks are the caller's (a controller, later).
//
// One step k, starting at job time t (SimScenario in core/proto/sim.proto states the inputs):
//   nominal_r    = t(b_r) at f_max for rank r's share b_r of the batch, in the step's precision
//   forward_r    = nominal_r · forward_fraction       · step_time_factor(f_r, forward) · j_r,k / speed_r(t)
//   backward_r   = nominal_r · (1 − forward_fraction) · step_time_factor(f_r, backward) · j_r,k / speed_r(t)
//   compute_r    = forward_r + backward_r; the last rank to arrive, s = argmax compute_r (ties: lowest)
//   comm         = alpha_s + gradient_bytes · 2(n − 1)/n / bandwidth (0 for n = 1)
//   hidden       = min(overlap_fraction · comm, backward_s)   (overlap only behind the last backward)
//   exposed      = comm − hidden
//   wall         = compute_s + exposed;   wait_r = compute_s − compute_r;   comm_r = exposed
//   energy_r     = P(f_r, forward)·forward_r + P(f_r, backward)·backward_r
//                  + blocking_power_w · (wait_r + exposed)
// so compute_r + wait_r + comm_r = wall for every rank. P and step_time_factor are GpuModel's
// (the phase curves when the calibration has them; the power cap pulls the effective clock down),
// j and speed RankVariation's. The job clock advances by wall. While the hidden part of the
// all-reduce overlaps the backward pass the GPU draws the backward's power (the collective's own
// power is not modelled); jitter, speed and drift lengthen compute at unchanged power; drift
// follows job time only, not the clock or the power drawn.
//
// The caller steps until finished() (the scenario's steps); further steps are not refused.
// Cost: O(ranks) per step, no allocation after construction (the result is reused).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/proto/sim.pb.h"
#include "energy/sim/gpu_model.h"
#include "energy/sim/rank_variation.h"
#include "energy/sim/scenario.h"

namespace joule::sim {

struct RankStep {
  double forward_s = 0, backward_s = 0;
  double compute_s = 0;  // forward + backward: what the controller reads as compute per step
  double wait_s = 0;     // blocked at the all-reduce until the last rank arrives
  double comm_s = 0;     // the exposed (not overlapped) all-reduce
  double energy_j = 0;
};

struct StepResult {
  int64_t step = 0;          // 0-based index of this step in the job
  double start_s = 0;        // job clock at the step's start and end (s)
  double end_s = 0;
  double wall_s = 0;         // end = start + wall
  double comm_total_s = 0;   // the whole all-reduce (hidden + exposed)
  double comm_exposed_s = 0;
  int slowest_rank = 0;      // the last to arrive
  double energy_j = 0;       // over all ranks
  std::vector<RankStep> ranks;
};

struct ClusterTotals {
  int64_t steps = 0;
  double time_s = 0;    // the job clock
  double energy_j = 0;  // all ranks
  std::vector<double> energy_j_per_rank, compute_s_per_rank, wait_s_per_rank;
};

// The step-time pieces that do not depend on the rank, for the caller's own predictions.
// Seconds per step at the requested clock f_max for a per-rank batch, at speed 1 without jitter.
double nominal_compute_s(const pb::SimWorkload& workload, int64_t per_rank_batch, SimPrecision precision);
// Ring all-reduce time for n ranks (0 for n = 1).
double ring_all_reduce_s(const pb::SimNetwork& network, double bytes, int ranks);

class ClusterModel {
 public:
  // Validates the scenario (origin names it in errors); the GPU is every rank's.
  ClusterModel(const pb::SimScenario& scenario, GpuModel gpu, const std::string& origin = "scenario");

  const pb::SimScenario& scenario() const { return scenario_; }
  const GpuModel& gpu() const { return gpu_; }
  const RankVariation& variation() const { return variation_; }
  int ranks() const { return scenario_.ranks(); }
  int64_t steps_done() const { return totals_.steps; }
  bool finished() const { return totals_.steps >= scenario_.steps(); }
  double job_time_s() const { return totals_.time_s; }
  const ClusterTotals& totals() const { return totals_; }

  // One step at the given requested SM clocks (MHz, one per rank), global batch (≥ ranks; split
  // as sim.proto says) and precision ("f32"/"bf16"). The result stays valid until the next step.
  const StepResult& step(const std::vector<double>& clock_mhz_per_rank, int64_t batch, const std::string& precision);
  // The scenario's global batch and precision.
  const StepResult& step(const std::vector<double>& clock_mhz_per_rank);

 private:
  pb::SimScenario scenario_;
  GpuModel gpu_;
  RankVariation variation_;
  SimPrecision precision_;
  StepResult result_;
  ClusterTotals totals_;
};

}  // namespace joule::sim
