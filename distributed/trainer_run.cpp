#include "distributed/trainer_run.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/build_info.h"
#include "core/clock.h"
#include "core/conv_bf16.h"
#include "core/gemm.h"
#include "distributed/checkpoint.h"
#include "energy/estimate_meter.h"
#include "energy/rank_meter.h"
#include "energy/tensorboard_writer.h"

namespace joule {
namespace {

double now_s() { return monotonic_seconds(); }

// Every rank's value, as doubles (bit-exact: no text in between).
std::vector<double> gather_doubles(Communicator& comm, double value) {
  const std::vector<std::string> parts =
      comm.all_gather(std::string(reinterpret_cast<const char*>(&value), sizeof value));
  std::vector<double> values(parts.size());
  for (size_t r = 0; r < parts.size(); ++r) {
    JOULE_ASSERT(parts[r].size() == sizeof(double), "rank ", r, " sent ", parts[r].size(), " bytes for a double");
    std::memcpy(&values[r], parts[r].data(), sizeof(double));
  }
  return values;
}

std::unique_ptr<energy::Meter> config_meter(const pb::Config& config, const TrainerIo& io,
                                            std::vector<std::string>& warnings) {
  if (io.meter != nullptr) return nullptr;
  energy::RankMeter made =
      energy::make_rank_meter({"", config.energy().estimate_watts_per_core(), config.energy().estimate_static_watts()});
  warnings.insert(warnings.end(), made.warnings.begin(), made.warnings.end());
  return std::move(made.meter);
}

}  // namespace

Trainer::Run::Run(State& state, const TrainerIo& io)
    : s_(state),
      io_(io),
      lead_(state.comm.rank() == 0),
      warnings_(io.meter_warnings),
      own_meter_(config_meter(state.config, io, warnings_)),
      meter_(own_meter_ ? own_meter_.get() : io.meter),
      outputs_(RunOutputsOptions{io.run_dir, lead_, io.progress, io.interactive, meter_->measured()}),
      feed_(state.train_set, DataFeedOptions{state.config.run().seed(), state.comm.size(), state.comm.rank(),
                                             state.config.data().normalize_mean(), state.config.data().normalize_std(),
                                             state.config.data().prefetch()}),
      evaluator_(state.test_set, state.config, state.comm) {
  Communicator& comm = s_.comm;
  const pb::TrainConfig& tc = s_.config.train();
  outputs_.message(s_.model->describe() + ", " + std::to_string(s_.train_set.size()) + " training samples, batch " +
                   std::to_string(s_.knobs.global_batch()) + " over " + std::to_string(comm.size()) + " rank(s), " +
                   std::to_string(s_.schedule.total_steps) + " steps at that batch, " +
                   std::to_string(s_.ctx.num_threads) + " threads per rank");
  outputs_.message("cpu math: " + s_.cpu_math.kernel + ", " + s_.cpu_math.reason);
  for (const std::string& warning : warnings_)
    outputs_.message("warning (rank " + std::to_string(comm.rank()) + "): " + warning);
  for (const std::string& note : io.meter_notes) outputs_.message("energy: " + note);
  for (const std::string& warning : s_.warnings) outputs_.message("warning: " + warning);
  if (s_.lr_scaling == LrScaling::adascale && comm.size() == 1)
    outputs_.message(
        "note: train.lr_scaling = adascale on one rank: no gradient variance to measure, its gain stays 1");
  char name[32];
  std::snprintf(name, sizeof name, "rank-%05d.jsonl", comm.rank());
  std::filesystem::create_directories(io.run_dir);  // ranks may not share rank 0's file system
  const std::string rank_log = (std::filesystem::path(io.run_dir) / name).string();
  window_log_ = std::make_unique<energy::WindowLog>(rank_log, static_cast<uint32_t>(comm.rank()), comm.host(), *meter_,
                                                    s_.config.energy().window_s(), now_s(), unix_seconds());
  runner_ = std::make_unique<StepRunner>(s_.ctx, *s_.model, *s_.reducer, window_log_->clock(),
                                         s_.config.distributed().overlap());
  feed_.seek(static_cast<int64_t>(s_.train.epoch()), static_cast<int64_t>(s_.train.epoch_offset()),
             s_.knobs.global_batch());
  control_ = make_control();
  progress_.epochs = tc.epochs();
  start_s_ = now_s();
  last_checkpoint_s_ = start_s_;
  if (s_.resume.active) resume_logs(rank_log);  // after start_s_: the elapsed time goes on from the checkpoint's
  outputs_.knobs(static_cast<int64_t>(s_.train.step()), s_.knobs, unix_seconds());
}

void Trainer::Run::run_pending_eval() {
  if (!eval_pending_) return;
  eval_pending_ = false;
  evaluate();
}

void Trainer::Run::apply_scheduled_knobs() {
  const pb::EnergyConfig& energy = s_.config.energy();
  if (next_scheduled_ >= s_.scheduled.size()) return;
  const int64_t at = energy.schedule(static_cast<int>(next_scheduled_)).at_step();
  if (static_cast<int64_t>(s_.train.step()) != at) return;
  const pb::Knobs next = s_.scheduled[next_scheduled_++];
  apply_knobs(next, "energy.schedule[" + std::to_string(next_scheduled_ - 1) + "] at step " + std::to_string(at));
}

void Trainer::Run::apply_knobs(const pb::Knobs& requested, const std::string& reason) {
  pb::Knobs next = requested;
  if (next.precision() == "bf16" && !s_.bf16_unavailable.empty()) {  // the knob stays at f32 here
    next.set_precision("f32");
    if (s_.knobs.precision() == "f32")
      outputs_.message("step " + std::to_string(s_.train.step()) + ": " + reason + ": bf16 is not available (" +
                       s_.bf16_unavailable + "), staying at f32");
  }
  const std::string change = describe_change(s_.knobs, next);
  if (change.empty()) return;
  // the window that ends here ran with the old knobs; its record carries the decision
  pending_decision_ += (pending_decision_.empty() ? "" : "; ") + reason + ": " + change;
  close_window("");
  switch_knobs(next, reason);
}

void Trainer::Run::switch_knobs(const pb::Knobs& next, const std::string& reason) {
  const std::string change = describe_change(s_.knobs, next);
  if (change.empty()) return;
  ++knob_changes_;
  if (next.global_batch() != s_.knobs.global_batch()) feed_.set_global_batch(next.global_batch());
  const int rank = s_.comm.rank();
  const uint32_t clock_mhz = rank < next.sm_clock_mhz_size() ? next.sm_clock_mhz(rank) : 0;
  if (clock_mhz != (rank < s_.knobs.sm_clock_mhz_size() ? s_.knobs.sm_clock_mhz(rank) : 0)) {
    apply_clock(clock_mhz);
    pending_decision_ = clock_note_;  // the next window's record says what the card did
  }
  s_.knobs = next;
  parse_precision(s_.knobs.precision(), &s_.ctx.precision);
  outputs_.knobs(static_cast<int64_t>(s_.train.step()), s_.knobs, unix_seconds());
  outputs_.message("step " + std::to_string(s_.train.step()) + ": " + reason + ": " + change);
}

// This rank's clock; the knob keeps the requested value, the log says what the card did.
void Trainer::Run::apply_clock(uint32_t mhz) {
  energy::ClockKnob* clock = io_.clock;
  if (clock == nullptr || !clock->available()) {
    clock_note_ = "sm clock knob unavailable" +
                  (clock != nullptr ? ": " + clock->reason() : std::string(" (energy.clock.gpu is unset)"));
    return;
  }
  if (mhz == 0) {
    clock->reset();
    clock_note_ = std::string("sm clock reset (") + clock->mode() + ")";
  } else {
    const energy::ClockChange change = clock->lock_sm_clock(mhz);
    clock_note_ = change.message;
  }
  outputs_.message("rank " + std::to_string(s_.comm.rank()) + ": " + clock_note_);
}

bool Trainer::Run::next_batch(Batch& batch) {
  window_log_->clock().enter(energy::Phase::data, now_s());
  return feed_.next(batch);
}

void Trainer::Run::end_epoch() {
  window_log_->clock().enter(energy::Phase::idle, now_s());
  if (s_.train.last_eval_step() != static_cast<int64_t>(s_.train.step())) evaluate();
  progress_.accuracy = s_.train.last_accuracy();
  outputs_.progress_line(progress_);
  if (s_.train.stop_reason() != pb::running) return;  // an interrupted evaluation
  s_.train.set_epoch(s_.train.epoch() + 1);
  s_.train.set_epoch_offset(0);
  epoch_loss_ = 0;
  epoch_steps_ = 0;
  if (static_cast<int64_t>(s_.train.epoch()) >= s_.config.train().epochs()) {
    s_.train.set_stop_reason(pb::max_epochs);
    return;
  }
  feed_.seek(static_cast<int64_t>(s_.train.epoch()), 0, s_.knobs.global_batch());
}

StepStats Trainer::Run::compute_step(const Batch& batch) {
  const int64_t step = static_cast<int64_t>(s_.train.step());
  s_.ctx.step = static_cast<uint64_t>(step);
  if (segment_ == 0) inject_fault(s_.fault_plan, s_.comm.rank(), step);  // the first launch only
  // gradient norms: local and global for the noise estimate (adascale); the global one alone is the
  // non-finite check in bf16 (a finite loss with a non-finite gradient)
  s_.reducer->set_measure_norms(measure_noise(), s_.knobs.precision() != "f32");
  StepStats stats = runner_->run(batch, static_cast<int>(s_.knobs.micro_batches()), s_.knobs.global_batch(),
                                 s_.comm.size(), static_cast<uint64_t>(step));
  if (segment_ == 0 && fault_nonfinite(s_.fault_plan, s_.comm.rank(), step)) stats.finite = false;
  if (io_.on_batch) io_.on_batch(step + 1, feed_.last_ids());
  return stats;
}

StepAgreement Trainer::Run::agree(const StepStats& stats) {
  StepVotes votes;
  votes.loss_sum = stats.loss_sum;
  votes.stop = io_.stop_requested != nullptr && io_.stop_requested->load();
  const double now = now_s();
  votes.window_due = window_log_->window_due(now);
  if (control_ != nullptr && !votes.window_due) {  // where the controller's transient or measurement ends
    const energy::PhaseClock& clock = window_log_->clock();
    votes.window_due = control_->boundary_due(now - clock.window_start() - clock.window_seconds(energy::Phase::eval, now));
  }
  votes.non_finite = !stats.finite;
  votes.local_grad_sq = stats.local_grad_sq;
  votes.checkpoint_due = seconds_due();
  return agree_step(s_.comm, votes);
}

float Trainer::Run::current_lr() const {
  const int64_t reference = s_.config.train().batch_size();
  const auto position = static_cast<int64_t>(std::floor(s_.train.progress() / static_cast<double>(reference) + 1e-9));
  return lr_at(s_.schedule, position) *
         static_cast<float>(lr_scale(s_.lr_scaling, s_.knobs.global_batch(), reference, s_.noise));
}

bool Trainer::Run::update(const StepStats& stats, const StepAgreement& agreed) {
  const int64_t step = static_cast<int64_t>(s_.train.step());
  const int64_t batch = s_.knobs.global_batch();
  if (agreed.non_finite) {
    const int32_t limit = s_.config.train().max_bad_steps();
    s_.train.set_bad_steps_in_a_row(s_.train.bad_steps_in_a_row() + 1);
    if (static_cast<int32_t>(s_.train.bad_steps_in_a_row()) >= limit) {
      outputs_.message("error: training diverged: the loss or a gradient is not finite at step " +
                       std::to_string(step + 1) + ", " + std::to_string(limit) +
                       " step(s) in a row (train.max_bad_steps); try a lower learning rate");
      s_.train.set_stop_reason(pb::diverged);
      return false;
    }
    s_.train.set_skipped_steps(s_.train.skipped_steps() + 1);
    const std::string what = "non-finite loss or gradient in " + s_.knobs.precision() + " at step " +
                             std::to_string(step + 1) + ", update skipped (" +
                             std::to_string(s_.train.bad_steps_in_a_row()) +
                             " in a row, train.max_bad_steps = " + std::to_string(limit) + ")";
    if (s_.knobs.precision() == "f32") {
      outputs_.message("warning: step " + std::to_string(step + 1) + ": " + what);
    } else {
      if (control_ != nullptr) control_->precision_failed(s_.knobs.precision());
      pb::Knobs fp32 = s_.knobs;
      fp32.set_precision("f32");
      apply_knobs(fp32, what);
    }
  } else {
    s_.train.set_bad_steps_in_a_row(0);
    window_log_->clock().enter(energy::Phase::optimizer, now_s());
    if (measure_noise())
      s_.noise.observe(agreed.mean_local_grad_sq, stats.global_grad_sq, s_.comm.size(), feed_.local_batch());
    last_lr_ = current_lr();
    if (control_ != nullptr && control_->cooling_down()) {  // linear decay to the schedule's floor
      if (cooldown_start_lr_ < 0) cooldown_start_lr_ = last_lr_;  // the rate at the cooldown's knobs
      const float floor = s_.schedule.base_lr * s_.schedule.min_lr_ratio;
      last_lr_ = cooldown_start_lr_ + (floor - cooldown_start_lr_) * static_cast<float>(control_->cooldown_step());
    }
    s_.optimizer->step(s_.ctx, last_lr_, step + 1 - static_cast<int64_t>(s_.train.skipped_steps()));
    s_.train.set_progress(s_.train.progress() +
                          schedule_progress(s_.lr_scaling, batch, s_.config.train().batch_size(), s_.noise));
  }
  window_log_->clock().enter(energy::Phase::idle, now_s());  // bookkeeping from here to the next step
  s_.train.set_step(static_cast<uint64_t>(step + 1));
  samples_before_step_ = s_.train.samples();
  s_.train.set_samples(s_.train.samples() + static_cast<double>(batch));
  s_.train.set_epoch_offset(static_cast<uint64_t>(feed_.offset()));
  window_log_->step_done(step + 1, feed_.local_batch());
  return true;
}

void Trainer::Run::log_step(const StepAgreement& agreed) {
  const int64_t step = static_cast<int64_t>(s_.train.step());
  const double loss = agreed.non_finite ? NAN : agreed.loss_sum / static_cast<double>(s_.knobs.global_batch());
  if (!agreed.non_finite) {
    epoch_loss_ += loss;
    ++epoch_steps_;
    window_loss_.add(loss);
  }
  // the run's last step is logged too: max_steps, or the last full batch of the last epoch
  const int64_t max_steps = s_.config.train().max_steps();
  const bool last =
      step == max_steps || (static_cast<int64_t>(s_.train.epoch()) + 1 == s_.config.train().epochs() &&
                            s_.train_set.size() - feed_.offset() < static_cast<int64_t>(s_.knobs.global_batch()));
  if (step % s_.config.train().log_every_steps() != 0 && !last) return;
  pb::TrainRecord record;
  record.set_kind("train");
  record.set_step(static_cast<uint32_t>(step));
  record.set_epoch(static_cast<uint32_t>(s_.train.epoch()));
  record.set_samples(s_.train.samples());
  record.set_loss(agreed.non_finite ? 0 : loss);
  record.set_lr(last_lr_);
  record.set_batch_size(s_.knobs.global_batch());
  record.set_precision(s_.knobs.precision());
  outputs_.train_line(record, unix_seconds());
}

void Trainer::Run::evaluate_if_due() {
  const int64_t every = s_.config.train().eval_every_steps();
  const double every_samples = static_cast<double>(s_.config.train().eval_every_samples());
  const int64_t step = static_cast<int64_t>(s_.train.step());
  const bool evaluated = s_.train.last_eval_step() >= 0;
  // a cadence evaluation less than half a period after the previous one (an epoch end's) is
  // skipped: two evaluations a step apart measure the same weights twice (~1.5% of the controller
  // benchmark's energy each time an epoch ended next to a multiple of eval_every_samples)
  const bool steps_due =
      every > 0 && step % every == 0 && (!evaluated || 2 * (step - s_.train.last_eval_step()) >= every);
  // a multiple of eval_every_samples crossed by the last step: the same cadence at any batch size
  const bool samples_due =
      every_samples > 0 &&
      std::floor(s_.train.samples() / every_samples) > std::floor(samples_before_step_ / every_samples) &&
      (!evaluated || 2 * (s_.train.samples() - s_.train.last_eval_samples()) >= every_samples);
  if (steps_due || samples_due) evaluate();
}

void Trainer::Run::evaluate() {
  if (segment_ == 0)
    inject_fault(s_.fault_plan, s_.comm.rank(), static_cast<int64_t>(s_.train.step()), FaultPoint::eval);
  const double t0 = now_s();
  window_log_->clock().enter(energy::Phase::eval, t0);
  const EvalResult r = evaluator_.evaluate(s_.ctx, *s_.model, io_.stop_requested);
  s_.train.set_eval_seconds(s_.train.eval_seconds() + now_s() - t0);
  window_log_->clock().enter(energy::Phase::idle, now_s());
  eval_cut_ = r.interrupted;
  if (r.interrupted) {  // cut short by an interrupt: no accuracy to record
    s_.train.set_stop_reason(pb::interrupted);
    return;
  }
  s_.train.set_last_accuracy(r.accuracy);
  s_.train.set_best_accuracy(std::max(s_.train.best_accuracy(), r.accuracy));
  s_.train.set_last_eval_step(static_cast<int64_t>(s_.train.step()));
  s_.train.set_last_eval_samples(s_.train.samples());
  // every rank's energy so far (one all-gather) for the total and the per-rank scalars
  const std::vector<double> rank_j = gather_doubles(s_.comm, window_log_->energy_j());
  pb::EvalRecord record;
  record.set_kind("eval");
  record.set_step(static_cast<uint32_t>(s_.train.step()));
  record.set_epoch(static_cast<uint32_t>(s_.train.epoch()));
  record.set_samples(s_.train.samples());
  double energy_j = 0;
  for (double e : rank_j) energy_j += e;
  record.set_energy_j(energy_j);
  record.set_accuracy(r.accuracy);
  record.set_eval_loss(r.loss);
  record.set_seconds(now_s() - start_s_);
  outputs_.eval_line(record, rank_j, now_s() - start_s_, unix_seconds());
  control_eval(r.accuracy, energy_j);
}

energy::WindowKnobs Trainer::Run::window_knobs() const {
  const int rank = s_.comm.rank();
  const uint32_t knob = rank < s_.knobs.sm_clock_mhz_size() ? s_.knobs.sm_clock_mhz(rank) : 0u;
  // the clock the card runs at when the knob locked one (dry run: the knob's value)
  const uint32_t locked = io_.clock != nullptr && io_.clock->available() ? io_.clock->locked_mhz() : knob;
  return {s_.knobs.global_batch(), s_.knobs.precision(), locked};
}

void Trainer::Run::close_window(const std::string& decision) {
  std::string text = pending_decision_ + (pending_decision_.empty() || decision.empty() ? "" : "; ") + decision;
  pending_decision_.clear();
  window_log_->close_window(static_cast<int64_t>(s_.train.step()), window_knobs(), text, now_s(),
                            [this](const energy::WindowEnergy& energy) { return control_window(energy); });
}

void Trainer::Run::show_progress() {
  const double now = now_s();
  const double samples = s_.train.samples();
  progress_.step = static_cast<int64_t>(s_.train.step());
  // remaining steps at the current batch (the total moves when the batch changes)
  const int64_t per_epoch = s_.train_set.size() / s_.knobs.global_batch();
  const int64_t left_in_epoch = (s_.train_set.size() - feed_.offset()) / s_.knobs.global_batch();
  const int64_t epochs_left = s_.config.train().epochs() - 1 - static_cast<int64_t>(s_.train.epoch());
  progress_.total_steps = progress_.step + left_in_epoch + std::max<int64_t>(0, epochs_left) * per_epoch;
  if (s_.config.train().max_steps() > 0)
    progress_.total_steps = std::min<int64_t>(progress_.total_steps, s_.config.train().max_steps());
  progress_.epoch = static_cast<int64_t>(s_.train.epoch());
  progress_.loss = epoch_steps_ > 0 ? epoch_loss_ / static_cast<double>(epoch_steps_) : 0;
  progress_.accuracy = s_.train.last_accuracy();
  progress_.elapsed_s = now - start_s_;
  progress_.samples_per_s = samples / std::max(1e-9, now - start_s_ - s_.train.eval_seconds());
  outputs_.progress(progress_, now);
}

void Trainer::Run::check_stop(const StepAgreement& agreed) {
  if (agreed.stop || s_.train.stop_reason() == pb::interrupted) {  // the vote, or an evaluation cut short
    s_.train.set_stop_reason(pb::interrupted);
    return;
  }
  if (control_ != nullptr && control_->cooldown_done() && s_.train.stop_reason() == pb::running)
    s_.train.set_stop_reason(pb::marginal_gain);
  if (s_.train.stop_reason() != pb::running) {  // a controller stop: the closing evaluation (not past a budget)
    if (s_.train.stop_reason() != pb::budget && s_.train.last_eval_step() != static_cast<int64_t>(s_.train.step()))
      evaluate();
    progress_.accuracy = s_.train.last_accuracy();
    outputs_.progress_line(progress_);
    return;
  }
  const int64_t max_steps = s_.config.train().max_steps();
  if (max_steps > 0 && static_cast<int64_t>(s_.train.step()) >= max_steps) {
    // the closing evaluation, as at an epoch's end
    if (s_.train.last_eval_step() != static_cast<int64_t>(s_.train.step())) evaluate();
    progress_.accuracy = s_.train.last_accuracy();
    outputs_.progress_line(progress_);
    if (s_.train.stop_reason() == pb::running) s_.train.set_stop_reason(pb::max_steps);
  }
}

pb::Summary Trainer::Run::finish() {
  Communicator& comm = s_.comm;
  // a signal that arrived after the last step's vote (during the closing evaluation) still counts,
  // on every rank alike
  double late_stop = io_.stop_requested != nullptr && io_.stop_requested->load() ? 1.0 : 0.0;
  comm.all_reduce_sum(&late_stop, 1);
  if (late_stop > 0 && s_.train.stop_reason() != pb::diverged) s_.train.set_stop_reason(pb::interrupted);
  const double seconds = now_s() - start_s_;
  s_.train.set_train_seconds(seconds);
  // the last checkpoint (before the window closes: its time and energy are accounted); a diverged
  // run's parameters are not worth keeping, and a spent budget is a hard cap (no closing work past
  // it, as no closing evaluation)
  if (s_.config.checkpoint().enabled() && s_.train.stop_reason() != pb::diverged &&
      s_.train.stop_reason() != pb::budget && last_checkpoint_ != checkpoint_dir_name(s_.train.step()))
    checkpoint(s_.train.stop_reason() == pb::interrupted ? "interrupted" : "end of run");
  close_window("");
  // the run total of each rank is the sum of its closed windows (they telescope)
  const std::vector<double> rank_j = gather_doubles(comm, window_log_->closed_energy_j());
  pb::Summary summary;
  summary.set_world_size(static_cast<uint32_t>(comm.size()));
  summary.set_steps(static_cast<uint32_t>(s_.train.step()));
  summary.set_samples(s_.train.samples());
  summary.set_seconds(seconds);
  double total = departed_energy_j_;  // ranks a resumed checkpoint had and this job lacks
  for (double e : rank_j) {
    summary.add_energy_j_per_rank(e);
    total += e;
  }
  const double last_accuracy = std::max(0.0, s_.train.last_accuracy());
  summary.set_energy_j(total);
  summary.set_j_per_sample(s_.train.step() > 0 ? total / summary.samples() : 0);
  summary.set_accuracy_per_kj(total > 0 ? last_accuracy / (total / 1000) : 0);
  summary.set_final_accuracy(last_accuracy);
  summary.set_best_accuracy(s_.train.best_accuracy());
  summary.set_stop_reason(pb::StopReason_Name(s_.train.stop_reason()));  // "epochs", "max_steps", ...
  for (const std::string& source : meter_->sources()) summary.add_sources(source);
  summary.set_measured(meter_->measured());
  summary.set_samples_per_s(summary.samples() / std::max(1e-9, seconds - s_.train.eval_seconds()));
  summary.set_model(s_.model->kind());
  summary.set_joule_version(JOULE_VERSION);
  summary.set_cpu_math(s_.cpu_math.name);
  summary.set_cpu_math_kernel(s_.cpu_math.kernel);
  summary.set_cpu_math_reason(s_.cpu_math.reason);
  std::string bf16_kernels = s_.ctx.gemm_bf16 ? s_.ctx.gemm_bf16->kernel() : "";
  if (s_.ctx.conv_bf16) bf16_kernels += (bf16_kernels.empty() ? "" : "; ") + s_.ctx.conv_bf16->kernel();
  summary.set_bf16_kernels(bf16_kernels);
  summary.set_batch_size(s_.knobs.global_batch());
  summary.set_precision(s_.knobs.precision());
  summary.set_knob_changes(knob_changes_);
  if (control_ != nullptr && s_.train.stop_reason() == pb::marginal_gain) {  // what the stop saved
    summary.set_full_budget_energy_j(control_->full_budget_energy_j());
    summary.set_predicted_full_accuracy(control_->predicted_full_accuracy(summary.final_accuracy()));
  }
  summary.set_controller_decisions(decisions_);
  summary.set_checkpoint(last_checkpoint_);
  summary.set_checkpoint_error(checkpoint_error_);
  summary.set_restarts(segment_);
  summary.set_skipped_steps(s_.train.skipped_steps());
  outputs_.summary(summary);
  return summary;
}

}  // namespace joule
