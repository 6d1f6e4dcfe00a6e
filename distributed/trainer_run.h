// Trainer::Run: one call of Trainer::run(): the objects that live for the run (outputs, window log,
// data feed, evaluator, step runner) and the named parts the loop in trainer.cpp calls in
// collective order. Private to distributed/trainer*.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "distributed/data_feed.h"
#include "distributed/energy_control.h"
#include "distributed/evaluator.h"
#include "distributed/run_outputs.h"
#include "distributed/step_agreement.h"
#include "distributed/step_runner.h"
#include "distributed/trainer_state.h"
#include "energy/window_log.h"

namespace joule {

class Trainer::Run {
 public:
  Run(State& state, const TrainerIo& io);

  void apply_scheduled_knobs();   // energy.schedule's change due now, if any: closes the window, applies it
  void apply_control();           // the energy controller's change decided at the last window close, if any
  bool next_batch(Batch& batch);  // false at the epoch's end
  void end_epoch();               // closing evaluation, progress line; the next epoch or stop_reason max_epochs
  StepStats compute_step(const Batch& batch);
  StepAgreement agree(const StepStats& stats);
  // Applies the agreed step: the optimizer update, or (non-finite) a skipped step and, in bf16, the
  // fall-back to fp32. False when training diverged in fp32.
  bool update(const StepStats& stats, const StepAgreement& agreed);
  void log_step(const StepAgreement& agreed);
  void evaluate_if_due();
  void close_window(const std::string& decision);  // every rank, at the same step
  void show_progress();
  void check_stop(const StepAgreement& agreed);
  // checkpoint.every_steps / every_seconds (the agreed vote) at this step; not after a stop
  bool checkpoint_due(const StepAgreement& agreed) const;
  void checkpoint(const std::string& why);  // collective; a failure is a warning (summary.checkpoint_error)
  void run_pending_eval();                  // a resumed run whose checkpoint came from an interrupted evaluation
  pb::Summary finish();

 private:
  void evaluate();
  void resume_logs(const std::string& rank_log);  // distributed/trainer_checkpoint.cpp
  bool seconds_due() const;                       // this rank's vote for a timed checkpoint
  static double now_seconds();
  void apply_knobs(const pb::Knobs& next, const std::string& reason);   // closes the window with the decision
  void switch_knobs(const pb::Knobs& next, const std::string& reason);  // the change itself (window already closed)
  // the energy controller (distributed/trainer_control.cpp)
  std::unique_ptr<EnergyControl> make_control();
  std::string control_window(const energy::WindowEnergy& energy);  // collective; the decision text for the log
  void control_eval(double accuracy, double job_energy_j);         // collective
  std::string take_decision(const ControlDecision& decision);
  bool measure_noise() const;      // the gradient noise scale is needed (adascale, or the controller's batch knob)
  void apply_clock(uint32_t mhz);  // this rank's SM clock (0: reset) through io.clock
  float current_lr() const;
  energy::WindowKnobs window_knobs() const;

  State& s_;
  const TrainerIo& io_;
  bool lead_;
  std::vector<std::string> warnings_;         // the meter's, printed at the start
  std::unique_ptr<energy::Meter> own_meter_;  // when io.meter is null
  energy::Meter* meter_;
  RunOutputs outputs_;
  std::unique_ptr<energy::WindowLog> window_log_;
  DataFeed feed_;
  Evaluator evaluator_;
  std::unique_ptr<StepRunner> runner_;
  ProgressState progress_;
  double start_s_ = 0;
  float last_lr_ = 0;               // the lr of the last update
  double samples_before_step_ = 0;  // train.samples before the last step (train.eval_every_samples)
  double epoch_loss_ = 0;
  int64_t epoch_steps_ = 0;
  size_t next_scheduled_ = 0;               // energy.schedule entries applied so far
  uint32_t knob_changes_ = 0;               // applied changes, for the summary
  std::string pending_decision_;            // decisions since the window opened, for its record
  std::string clock_note_;                  // what the clock actuator did last
  std::unique_ptr<EnergyControl> control_;  // null: energy.controller off
  std::optional<pb::Knobs> control_knobs_;  // decided, applied at the next step boundary
  double window_samples_start_ = 0;         // global samples when the window opened
  energy::LossWindow window_loss_;          // the window's finite steps' mean losses
  uint32_t decisions_ = 0;       // controller decision lines
  float cooldown_start_lr_ = 0;  // the lr when the cooldown began
  // checkpoints and resume
  uint32_t segment_ = 0;          // 0: the first launch; n: the n-th resume
  double departed_energy_j_ = 0;  // ranks of the checkpoint that this job lacks (rank 0)
  bool eval_pending_ = false;     // resumed from an interrupted evaluation: run it first
  bool eval_cut_ = false;         // the last evaluation was cut short by an interrupt
  double last_checkpoint_s_ = 0;
  std::string last_checkpoint_;   // the newest complete one
  std::string checkpoint_error_;  // the last attempt's failure
};

}  // namespace joule
