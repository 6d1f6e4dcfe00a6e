// SimJob: joule-sim (issue 13), the real energy controller (EnergyControl, distributed/
// energy_control.h) driving simulated ranks (energy/sim/cluster_model.h) whose training progresses
// by energy/sim/progress_model.h. The controller is the one a run uses, fed the windows the
// simulated ranks would have measured, gathered as EnergyControl::window_closed gathers them; no
// policy code is the simulator's own.
//
// The loop mirrors Trainer::run (distributed/trainer.cpp) in simulated time: a decided change applies
// at the next step; after each step come the cooldown step, the metrics train line, an evaluation
// when eval_every_samples is crossed, a window close once window_s simulated seconds passed, then
// the stop checks (cooldown done → marginal_gain; a decision's stop; `steps` → max_steps), each
// stop with a closing evaluation unless the budget is spent. Evaluations take no simulated time or
// energy (a simplification: a run's eval phase is not modelled).
//
// The run directory <output>/<name>/ (<name>-baseline with baseline) has a run's schema
// (DESIGN.md §1): scenario.pbtxt (the resolved scenario), metrics.jsonl, rank-RRRRR.jsonl (one
// pb::RankWindowRecord per window per rank: times are simulated seconds since the job started,
// host "sim", sources ["sim"], measured false), summary.json (seconds = simulated seconds), and
// TensorBoard scalars. Rank log lines are buffered in memory (up to 32 MB) and appended one write
// per rank, so 4096 ranks cost 4096 file opens per flush, not one per line.
#pragma once

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "core/proto/records.pb.h"
#include "core/proto/sim.pb.h"

namespace joule {

// A scenario ready to run: the file with `--set` overrides applied and every field validated
// (also the joule-sim fields and the controller's), the GPU calibration read.
struct SimJobInput {
  pb::SimScenario scenario;
  std::string scenario_path;
  std::string gpu_path;
  pb::GpuCalibration calibration;
};

// Invalid input (exit status 2) naming the file and the field; nothing is written. Overrides are
// "field.path=value" on SimScenario ("heterogeneity.jitter_sigma=0.02",
// "controller.clocks.mode=ADAPT"), scalar fields only, applied in order before validation.
SimJobInput load_sim_job(const std::string& scenario_path, const std::vector<std::string>& overrides);
// One override, as above (origin names the scenario in errors).
void apply_scenario_override(pb::SimScenario& scenario, const std::string& assignment);

struct SimJobOptions {
  std::string output = "runs";   // parent of the run directory
  // Every knob FIXED at the start (batch, precision, clocks at f_max); the stop rules stay: the
  // comparison the controller is judged by. The run directory is <name>-baseline.
  bool baseline = false;
  std::FILE* progress = stderr;  // progress lines; null: none
  // Set (by joule-sim's SIGINT/SIGTERM handler): the job stops after the step running, with
  // stop_reason interrupted and every output complete (the closing window, the summary). Null: none.
  const std::atomic<bool>* stop_requested = nullptr;
};

struct SimJobResult {
  std::string run_dir;
  pb::Summary summary;
  // wall seconds of each window's EnergyControl::decide (the controller's cost per window at this
  // rank count, on this machine; empty with --baseline)
  std::vector<double> window_decision_s;
};

// <output>/<name>[-baseline]/ must not exist or be empty (invalid input otherwise, before anything
// is written). Runs the job and writes the run directory.
SimJobResult run_sim_job(const SimJobInput& input, const SimJobOptions& options);

}  // namespace joule
