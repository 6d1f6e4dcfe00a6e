// EnergyControl: the energy controller in a run (energy.controller; README "The energy
// controller"). It turns the Trainer's measurements into the inputs of the policies in energy/
// (KnobPolicy: batch and precision; ClockPolicy: per-rank SM clocks; StopRule: the marginal-gain
// stop) and their outputs into knob changes and stop reasons.
//
// Agreement: every call below is collective, made by every rank at the same step. The inputs each
// rank measured (window energy, seconds, compute and wait time, clock) are all-gathered as raw
// doubles, so every rank feeds identical numbers to the same deterministic policies and reaches the
// identical decision; no broadcast is needed and the decision records match on every rank.
//
// Gathered windows (the cluster simulator, distributed/sim_job.h): one process that already holds
// every rank's numbers builds the controller for a rank count instead of a communicator and calls
// decide() with the gathered window or evaluation itself: the very code window_closed/evaluated run
// after their gather, with no collective (window_closed/evaluated refuse without a communicator).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/proto/checkpoint.pb.h"
#include "core/proto/config.pb.h"
#include "core/proto/train_state.pb.h"
#include "distributed/communicator.h"
#include "energy/accountant.h"
#include "energy/knob_policy.h"
#include "energy/loss_window.h"

namespace joule {

namespace energy {
class ClockPolicy;
class StopRule;
}  // namespace energy

struct ControlSetup {
  int64_t train_size = 0;               // training samples per epoch
  int64_t test_size = 0;                // test samples per evaluation (the accuracy's sampling noise)
  int64_t epochs = 0;                   // train.epochs (the full budget, for what the stop saved)
  std::vector<int64_t> batches;         // candidate global batches (ascending); empty: the batch knob is not adapted
  std::vector<std::string> precisions;  // candidate precisions (available here); one or none: not adapted
  std::vector<uint32_t> supported_mhz;  // the card's supported SM clocks (ascending); clocks adapted when non-empty
  uint32_t clock_min_mhz = 0, clock_max_mhz = 0;
};

// The candidates, as a training run (Trainer::Run::make_control) and joule-sim derive them alike.
// Batches: start (train.batch_size) × 2^k within [max(c.min or 1, low_bound), min(c.max or
// default_high, high_bound)], multiples of `ranks`, ascending; empty when start is not among them
// (nothing consistent to adapt).
std::vector<int64_t> candidate_batches(const pb::ControllerBatchConfig& c, int ranks, int64_t start, int64_t low_bound,
                                       int64_t default_high, int64_t high_bound);
// Precisions: c.allowed in order without repeats; none listed = f32 and bf16.
std::vector<std::string> candidate_precisions(const pb::ControllerPrecisionConfig& c);
// Clocks: those of `supported` (a clock knob's, ascending) within [c.min_mhz, c.max_mhz] (0 = no
// bound).
std::vector<uint32_t> candidate_clocks(const std::vector<unsigned>& supported, const pb::ControllerClockConfig& c);

// What the trainer does next. Knob changes apply at the next step boundary.
struct ControlDecision {
  std::optional<pb::Knobs> knobs;  // a change
  pb::StopReason stop =
      pb::running;              // a stop now (budget, max_seconds, target_reached, marginal_gain after the cooldown)
  bool start_cooldown = false;  // the marginal-gain rule fired: decay the lr over cooldown_steps, then stop
  int64_t cooldown_steps = 0;
  std::string what;         // "batch_size", "precision", "clock", "explore", "stop", "cooldown"
  std::string reason;       // one sentence with the numbers
  std::string detail_json;  // the numbers behind it (candidates, gain, noise scale, fit), a JSON object
};

// One closed window as this rank measured it.
struct RankWindow {
  energy::WindowEnergy energy;  // the window's seconds and joules, by phase
  uint32_t clock_mhz = 0;       // this rank's SM clock in the window (0 = none)
  uint32_t measured_clock_mhz = 0;  // the mean SM clock measured over its compute (0 = not measured;
                                    // ClockPolicy learns a capped rank's ceiling from it)
};

class EnergyControl {
 public:
  EnergyControl(const pb::ControllerConfig& config, const ControlSetup& setup, const pb::Knobs& start,
                Communicator& comm);
  // Without a communicator, for `ranks` ranks whose windows the caller gathers (decide() below).
  EnergyControl(const pb::ControllerConfig& config, const ControlSetup& setup, const pb::Knobs& start, int ranks);
  ~EnergyControl();

  // A window every rank's numbers are already in (per-rank fields indexed by rank, ranks() long), or
  // an evaluation: exactly what window_closed/evaluated do after their gather. Not collective.
  ControlDecision decide(const pb::ControlWindow& window) { return apply_window(window); }
  ControlDecision decide(const pb::ControlEval& eval) { return apply_eval(eval); }
  int ranks() const { return ranks_; }
  // false: inputs are no longer kept in journal() (a long simulation of many ranks; no checkpoint
  // to write them to). Before the first input.
  void keep_journal(bool keep) { keep_journal_ = keep; }

  // Collective, at every window close: the window that ran with `knobs` from step `first_step`
  // to `step`. `samples`: global samples trained in it; `loss`: its steps' training losses (mean and
  // standard error); `noise_scale`: the current B_noise (0 = unknown); `stopping`: the run ends at this step (no knob
  // decision then).
  ControlDecision window_closed(const RankWindow& mine, const pb::Knobs& knobs, int64_t step, double samples,
                                const energy::LossWindow& loss, double noise_scale, bool stopping);
  // This rank's vote to close its open window now, `open_train_s` training seconds (eval excluded)
  // into it: the knob policy wants a window to end where its warm-up, a transient or a measurement
  // ends (KnobPolicy::next_boundary_s), so a profile is not held up by a window that straddles it.
  // Not collective (the trainer's step agreement ORs the votes).
  bool boundary_due(double open_train_s) const;
  // Collective, after every evaluation: `accuracy` in [0, 1], `job_energy_j` of all ranks so far.
  ControlDecision evaluated(double accuracy, double job_energy_j, int64_t step);
  // A non-finite step in `precision`: it is not chosen again.
  void precision_failed(const std::string& precision);

  bool adapts_batch() const { return setup_.batches.size() > 1; }
  bool cooling_down() const { return cooldown_left_ >= 0; }
  bool cooldown_done() const { return cooldown_left_ == 0; }
  // One cooldown step: the fraction of the cooldown done after it, (0, 1] (the trainer decays the
  // rate linearly by it, to the schedule's floor). Only while cooling_down().
  double cooldown_step();

  // For summary.json: the fitted accuracy a full-budget run would reach and the energy it would
  // spend (train.epochs at the energy per sample so far); 0 when unknown. The fit is of the
  // evaluations before the cooldown: after one, what it added to `final_accuracy` above the fitted
  // curve at this run's energy is added at the full budget's too (a full run anneals at its end).
  double predicted_full_accuracy(double final_accuracy) const;
  double full_budget_energy_j() const;
  // Every rank's energy over the closed windows (identical on every rank).
  double job_energy_j() const { return job_energy_j_; }

  // Every input so far (checkpoints), and a resume's replay of one through this fresh controller
  // (no collective; the decisions it re-takes were applied before the checkpoint and are dropped).
  // False, changing nothing, when the journal came from another rank count.
  const pb::ControlJournal& journal() const { return journal_; }
  bool replay(const pb::ControlJournal& journal);

 private:
  ControlDecision apply_window(const pb::ControlWindow& w);  // window_closed after the gather
  ControlDecision apply_eval(const pb::ControlEval& e);
  EnergyControl(const pb::ControllerConfig& config, const ControlSetup& setup, const pb::Knobs& start, int ranks,
                Communicator* comm);
  pb::ControlEvent* journal_event();  // the next journal entry (a scratch one when not kept)
  pb::ControlJournal journal_;
  pb::ControlEvent scratch_event_;
  bool keep_journal_ = true;
  pb::ControllerConfig config_;
  ControlSetup setup_;
  Communicator* comm_;  // null: gathered windows only (decide())
  int ranks_;
  std::unique_ptr<energy::KnobPolicy> knobs_;
  energy::Setting chosen_;  // the knob policy's incumbent after the last window (a switch to the running profile is logged)
  std::unique_ptr<energy::ClockPolicy> clocks_;
  std::unique_ptr<energy::StopRule> stop_rule_;
  double job_energy_j_ = 0;      // closed windows, all ranks
  double wall_seconds_ = 0;      // closed windows (the slowest rank's each)
  double train_seconds_ = 0;     // closed windows, eval excluded (the slowest rank's)
  int64_t last_step_ = 0;        // the step the previous window closed at
  pb::Knobs last_knobs_;         // the previous window's
  pb::Knobs running_knobs_;      // in effect after the last window's decision (a profile's, too)
  uint32_t first_batch_ = 0;     // the first window's global batch
  bool batch_changed_ = false;   // some window ran another batch
  bool clocks_changed_ = false;  // the last decision changed clocks: the next window is a transient
  double samples_ = 0;
  double since_change_s_ = 0;
  int64_t cooldown_total_ = 0, cooldown_left_ = -1;
  bool stop_fired_ = false;
};

}  // namespace joule
