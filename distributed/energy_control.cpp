#include "distributed/energy_control.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "energy/clock_policy.h"
#include "energy/knob_policy.h"
#include "energy/stop_rule.h"

namespace joule {

std::vector<int64_t> candidate_batches(const pb::ControllerBatchConfig& c, int ranks, int64_t start, int64_t low_bound,
                                       int64_t default_high, int64_t high_bound) {
  const int64_t low = std::max<int64_t>(c.min() > 0 ? c.min() : 1, low_bound);
  const int64_t high = std::min<int64_t>(c.max() > 0 ? c.max() : default_high, high_bound);
  std::vector<int64_t> batches;
  int64_t b = start;
  while (b / 2 >= low && (b / 2) % ranks == 0 && b % 2 == 0) b /= 2;
  for (; b <= high; b *= 2)
    if (b >= low && b % ranks == 0) batches.push_back(b);
  if (std::find(batches.begin(), batches.end(), start) == batches.end()) batches.clear();
  return batches;
}

std::vector<std::string> candidate_precisions(const pb::ControllerPrecisionConfig& c) {
  std::vector<std::string> precisions;
  for (const std::string& p : c.allowed())
    if (std::find(precisions.begin(), precisions.end(), p) == precisions.end()) precisions.push_back(p);
  if (precisions.empty()) precisions = {"f32", "bf16"};
  return precisions;
}

std::vector<uint32_t> candidate_clocks(const std::vector<unsigned>& supported, const pb::ControllerClockConfig& c) {
  std::vector<uint32_t> clocks;
  for (unsigned mhz : supported)
    if ((c.min_mhz() == 0 || mhz >= c.min_mhz()) && (c.max_mhz() == 0 || mhz <= c.max_mhz())) clocks.push_back(mhz);
  return clocks;
}
namespace {

// Per rank, in this order, all-gathered at each window close.
enum Field { energy_j, eval_j, seconds, eval_s, compute_s, wait_s, clock_mhz, measured_mhz, steps, field_count };

// Every rank's fields: each rank fills its slot of a zeroed table and one sum all-reduce fills the
// rest (adding zeros is exact, so every rank holds bit-identical numbers).
std::vector<double> gather_fields(Communicator& comm, const double (&mine)[field_count]) {
  std::vector<double> table(static_cast<size_t>(comm.size()) * field_count, 0.0);
  std::copy(mine, mine + field_count, table.begin() + static_cast<std::ptrdiff_t>(comm.rank()) * field_count);
  comm.all_reduce_sum(table.data(), static_cast<int64_t>(table.size()));
  return table;
}

double at(const energy::PhaseSeconds& values, energy::Phase phase) { return values[static_cast<size_t>(phase)]; }

std::string number(double v) {
  std::ostringstream out;
  out.precision(6);
  out << (std::isfinite(v) ? v : 0.0);
  return out.str();
}

}  // namespace

EnergyControl::EnergyControl(const pb::ControllerConfig& config, const ControlSetup& setup, const pb::Knobs& start,
                             Communicator& comm)
    : EnergyControl(config, setup, start, comm.size(), &comm) {}

EnergyControl::EnergyControl(const pb::ControllerConfig& config, const ControlSetup& setup, const pb::Knobs& start,
                             int ranks)
    : EnergyControl(config, setup, start, ranks, nullptr) {}

EnergyControl::EnergyControl(const pb::ControllerConfig& config, const ControlSetup& setup, const pb::Knobs& start,
                             int ranks, Communicator* comm)
    : config_(config), setup_(setup), comm_(comm), ranks_(ranks) {
  JOULE_ASSERT(ranks >= 1, "EnergyControl needs at least one rank, got ", ranks);
  journal_.set_ranks(static_cast<uint32_t>(ranks));
  energy::KnobPolicyOptions o;
  o.batches = setup.batches.empty() ? std::vector<int64_t>{start.global_batch()} : setup.batches;
  o.precisions = setup.precisions.size() < 2 ? std::vector<std::string>{start.precision()} : setup.precisions;
  o.reference_batch = start.global_batch();
  o.eta = config.eta();
  o.max_slowdown = config.max_slowdown();
  o.max_explore_fraction = config.max_explore_fraction();
  o.warmup_s = config.warmup_s();
  o.transient_s = config.transient_s();
  o.measure_s = config.measure_s();
  o.hysteresis = config.hysteresis();
  // window losses move by several percent on their own (1-s windows early in training: a bf16
  // profile of the MLP measured 7% above the f32 trend, yet fixed bf16 reaches 88% in fewer steps)
  o.loss_tolerance = 0.1;
  if (o.batches.size() > 1 || o.precisions.size() > 1)
    knobs_ = std::make_unique<energy::KnobPolicy>(o, energy::Setting{start.global_batch(), start.precision()});
  if (knobs_ != nullptr) chosen_ = knobs_->incumbent();
  if (!setup.supported_mhz.empty()) {
    energy::ClockPolicyOptions c;
    c.min_mhz = setup.clock_min_mhz;
    c.max_mhz = setup.clock_max_mhz;
    c.supported_mhz = setup.supported_mhz;
    c.margin = config.clocks().margin();
    c.min_interval_s = config.clocks().min_interval_s();
    c.max_slowdown = std::max(1.0, config.max_slowdown());
    clocks_ = std::make_unique<energy::ClockPolicy>(c, ranks);
  }
  if (config.min_gain_per_kj() > 0 || config.min_gain_per_epoch() > 0) {
    energy::StopRuleOptions s;
    s.min_gain_per_kj = config.min_gain_per_kj();  // per epoch: set at each evaluation (apply_eval)
    s.patience = config.patience();
    // the noise floor of a test accuracy near 90% on test_size samples: 100·√(0.9·0.1/n) points
    if (setup.test_size > 0) s.min_residual_sd = 30.0 / std::sqrt(static_cast<double>(setup.test_size));
    stop_rule_ = std::make_unique<energy::StopRule>(s);
  }
}

EnergyControl::~EnergyControl() = default;

pb::ControlEvent* EnergyControl::journal_event() {
  if (keep_journal_) return journal_.add_events();
  scratch_event_.Clear();
  return &scratch_event_;
}

ControlDecision EnergyControl::window_closed(const RankWindow& mine, const pb::Knobs& knobs, int64_t step,
                                             double samples, const energy::LossWindow& loss, double noise_scale,
                                             bool stopping) {
  JOULE_ASSERT(comm_ != nullptr, "window_closed without a communicator: call decide() with the gathered window");
  const energy::PhaseSeconds& s = mine.energy.phase_seconds;
  const energy::PhaseSeconds& j = mine.energy.phase_j;
  using energy::Phase;
  const double mine_fields[field_count] = {mine.energy.total_j,
                                           at(j, Phase::eval),
                                           mine.energy.seconds,
                                           at(s, Phase::eval),
                                           at(s, Phase::forward) + at(s, Phase::backward) + at(s, Phase::optimizer),
                                           at(s, Phase::comm_wait),
                                           static_cast<double>(mine.clock_mhz),
                                           static_cast<double>(mine.measured_clock_mhz),
                                           static_cast<double>(step - last_step_)};
  const std::vector<double> table = gather_fields(*comm_, mine_fields);
  pb::ControlWindow w;
  for (int r = 0; r < comm_->size(); ++r) {
    const double* f = &table[static_cast<size_t>(r) * field_count];
    w.set_window_j(w.window_j() + f[energy_j]);
    w.set_train_j(w.train_j() + f[energy_j] - f[eval_j]);
    w.set_wall_s(std::max(w.wall_s(), f[seconds]));
    w.set_train_s(std::max(w.train_s(), f[seconds] - f[eval_s]));
    const double per_step = f[steps] > 0 ? 1.0 / f[steps] : 0.0;
    w.add_clock_mhz(static_cast<uint32_t>(f[clock_mhz]));
    w.add_compute_s_per_step(f[compute_s] * per_step);
    w.add_wait_s_per_step(f[wait_s] * per_step);
    w.add_sm_clock_measured_mhz(static_cast<uint32_t>(f[measured_mhz]));
  }
  *w.mutable_knobs() = knobs;
  w.set_step(step);
  w.set_samples(samples);
  w.set_mean_loss(loss.mean());
  w.set_mean_loss_sem(loss.sem());
  w.set_noise_scale(noise_scale);
  w.set_stopping(stopping);
  return apply_window(w);
}

ControlDecision EnergyControl::apply_window(const pb::ControlWindow& w) {
  JOULE_ASSERT(
      w.clock_mhz_size() == ranks_ && w.compute_s_per_step_size() == ranks_ && w.wait_s_per_step_size() == ranks_,
      "a control window needs one clock, compute and wait per rank (", ranks_, " ranks), got ", w.clock_mhz_size(),
      ", ", w.compute_s_per_step_size(), ", ", w.wait_s_per_step_size());
  *journal_event()->mutable_window() = w;
  last_step_ = w.step();
  const pb::Knobs& knobs = w.knobs();
  const double samples = w.samples(), mean_loss = w.mean_loss(), loss_sem = w.mean_loss_sem(),
               noise_scale = w.noise_scale();
  const bool stopping = w.stopping();
  const double train_j = w.train_j(), train_s = w.train_s();
  std::vector<energy::RankTiming> timing(static_cast<size_t>(w.clock_mhz_size()));
  const bool measured = w.sm_clock_measured_mhz_size() == w.clock_mhz_size();
  for (int r = 0; r < w.clock_mhz_size(); ++r)
    timing[static_cast<size_t>(r)] = {w.clock_mhz(r), w.compute_s_per_step(r), w.wait_s_per_step(r),
                                      measured ? w.sm_clock_measured_mhz(r) : 0u};
  job_energy_j_ += w.window_j();
  wall_seconds_ += w.wall_s();
  train_seconds_ += train_s;
  samples_ += samples;
  if (first_batch_ == 0) first_batch_ = knobs.global_batch();
  batch_changed_ = batch_changed_ || knobs.global_batch() != first_batch_;
  running_knobs_ = knobs;
  const bool changed = last_knobs_.global_batch() != 0 && (last_knobs_.global_batch() != knobs.global_batch() ||
                                                           last_knobs_.precision() != knobs.precision());
  if (changed) {
    since_change_s_ = 0;
    if (clocks_ != nullptr) clocks_->reset_models();  // the work per step changed: relearn every curve
  }
  const bool clock_transient =
      changed || clocks_changed_;  // this window began with a change: its timing is a transient
  clocks_changed_ = false;
  last_knobs_ = knobs;

  ControlDecision d;
  if (config_.budget_kj() > 0 && job_energy_j_ >= config_.budget_kj() * 1000) {
    d.stop = pb::budget;
    d.what = "stop";
    d.reason = "energy budget spent: " + number(job_energy_j_ / 1000) + " kJ >= energy.controller.budget_kj " +
               number(config_.budget_kj());
    d.detail_json =
        "{\"job_energy_j\":" + number(job_energy_j_) + ",\"budget_kj\":" + number(config_.budget_kj()) + "}";
    return d;
  }
  if (config_.max_seconds() > 0 && wall_seconds_ >= config_.max_seconds()) {
    d.stop = pb::max_seconds;
    d.what = "stop";
    d.reason =
        "time limit: " + number(wall_seconds_) + " s >= energy.controller.max_seconds " + number(config_.max_seconds());
    d.detail_json = "{\"seconds\":" + number(wall_seconds_) + "}";
    return d;
  }
  if (cooling_down() || stopping ||
      samples <= 0) {  // the knobs stay as they are until the run ends; an empty window says nothing
    since_change_s_ += train_s;
    return d;
  }

  pb::Knobs next = knobs;
  bool adopted_only = false;  // a decision record without a knob change
  if (knobs_ != nullptr) {
    energy::WindowObservation w;
    w.setting = {knobs.global_batch(), knobs.precision()};
    w.seconds = train_s;
    w.energy_j = train_j;
    w.samples = samples;
    w.since_change_s = since_change_s_;
    w.noise_scale = noise_scale;
    w.mean_loss = mean_loss;
    w.loss_sem = loss_sem;
    w.job_energy_j = job_energy_j_;
    w.train_seconds = train_seconds_;
    const energy::KnobDecision k = knobs_->observe(w);
    if (k.change) {
      next.set_global_batch(static_cast<uint32_t>(k.next.batch));
      next.set_precision(k.next.precision);
      d.what = k.next.batch != static_cast<int64_t>(knobs.global_batch()) ? "batch_size" : "precision";
      d.reason = k.reason;
    } else if (k.switched) {  // the profile running now was chosen: a record, and the knobs stay
      d.what = knobs_->incumbent().batch != chosen_.batch ? "batch_size" : "precision";
      d.reason = k.reason;
      adopted_only = true;
    }
    chosen_ = knobs_->incumbent();
    d.detail_json = k.detail_json;
  }
  since_change_s_ += train_s;
  if (clocks_ != nullptr && !clock_transient && d.what.empty()) {  // one change at a time
    const energy::ClockDecision c = clocks_->observe(wall_seconds_, timing);
    if (c.changed) {
      clocks_changed_ = true;
      next.clear_sm_clock_mhz();
      for (uint32_t mhz : c.clock_mhz) next.add_sm_clock_mhz(mhz);
      d.what = d.what.empty() ? "clock" : d.what + "+clock";
      d.reason += (d.reason.empty() ? "" : "; ") + c.reason;
      d.detail_json = "{\"knobs\":" + (d.detail_json.empty() ? "{}" : d.detail_json) +
                      ",\"clocks\":" + (c.detail_json.empty() ? "{}" : c.detail_json) + "}";
    }
  }
  if (!d.what.empty() && !adopted_only) {
    d.knobs = next;
    running_knobs_ = next;
  }
  return d;
}

bool EnergyControl::boundary_due(double open_train_s) const {
  if (knobs_ == nullptr || cooling_down() || stop_fired_) return false;
  const double boundary_s = knobs_->next_boundary_s();
  return boundary_s > 0 && train_seconds_ < boundary_s && train_seconds_ + open_train_s >= boundary_s;
}

ControlDecision EnergyControl::evaluated(double accuracy, double job_energy_j, int64_t step) {
  JOULE_ASSERT(comm_ != nullptr, "evaluated without a communicator: call decide() with the evaluation");
  pb::ControlEval e;
  e.set_accuracy(accuracy);
  e.set_job_energy_j(job_energy_j);
  e.set_step(step);
  return apply_eval(e);
}

ControlDecision EnergyControl::apply_eval(const pb::ControlEval& e) {
  *journal_event()->mutable_eval() = e;
  const double accuracy = e.accuracy(), job_energy_j = e.job_energy_j();
  const int64_t step = e.step();
  ControlDecision d;
  if (config_.target_accuracy() > 0 && accuracy >= config_.target_accuracy()) {
    d.stop = pb::target_reached;
    d.what = "stop";
    d.reason = "target accuracy reached: " + number(accuracy * 100) + "% >= energy.controller.target_accuracy " +
               number(config_.target_accuracy() * 100) + "% at " + number(job_energy_j / 1000) + " kJ";
    d.detail_json = "{\"accuracy\":" + number(accuracy) + ",\"job_energy_j\":" + number(job_energy_j) + "}";
    return d;
  }
  if (stop_rule_ == nullptr || stop_fired_) return d;
  // min_gain_per_epoch: the threshold in points/kJ at the job's kJ per epoch so far (closed windows)
  const double per_epoch = config_.min_gain_per_epoch();
  const double epochs = setup_.train_size > 0 ? samples_ / static_cast<double>(setup_.train_size) : 0;
  const double kj_per_epoch = epochs > 0 ? job_energy_j_ / 1000 / epochs : 0;
  if (per_epoch > 0) stop_rule_->set_min_gain_per_kj(kj_per_epoch > 0 ? per_epoch / kj_per_epoch : 0);
  const energy::StopCheck check = stop_rule_->observe(job_energy_j, accuracy);
  d.detail_json = stop_rule_->describe_json();
  if (per_epoch > 0) {
    d.detail_json.pop_back();  // the object's '}'
    d.detail_json += ",\"min_gain_per_epoch\":" + number(per_epoch) + ",\"kj_per_epoch\":" + number(kj_per_epoch) +
                     ",\"threshold_per_kj\":" + number(kj_per_epoch > 0 ? per_epoch / kj_per_epoch : 0) + "}";
  }
  if (!check.stop) return d;
  stop_fired_ = true;
  // A profile running when the rule fires is abandoned: the cooldown runs at the chosen setting.
  std::string settle;
  const double running_batch = running_knobs_.global_batch();
  if (knobs_ != nullptr && running_knobs_.global_batch() != 0) {
    const energy::Setting& chosen = knobs_->incumbent();
    if (chosen.batch != static_cast<int64_t>(running_knobs_.global_batch()) || chosen.precision != running_knobs_.precision()) {
      settle = "; back from the profile of " + energy::setting_name({running_knobs_.global_batch(), running_knobs_.precision()}) +
               " to " + energy::setting_name(chosen);
      running_knobs_.set_global_batch(static_cast<uint32_t>(chosen.batch));
      running_knobs_.set_precision(chosen.precision);
      d.knobs = running_knobs_;
    }
  }
  // cooldown_fraction × the steps so far; when the batch changed during the run, × the samples so
  // far in steps of the batch the cooldown runs at (a fraction of the training, not of the steps)
  double span = static_cast<double>(step);
  if (batch_changed_ && running_knobs_.global_batch() > 0)
    span = (samples_ + static_cast<double>(std::max<int64_t>(0, step - last_step_)) * running_batch) /
           static_cast<double>(running_knobs_.global_batch());
  const auto cooldown = static_cast<int64_t>(std::ceil(config_.cooldown_fraction() * span));
  d.what = "stop";
  d.reason = check.reason;
  if (per_epoch > 0)
    d.reason += " (energy.controller.min_gain_per_epoch " + number(per_epoch) + " points per epoch, at " +
                number(std::round(kj_per_epoch * 1000) / 1000) + " kJ per epoch)";
  d.reason += settle;
  if (cooldown > 0) {
    d.start_cooldown = true;
    d.cooldown_steps = cooldown;
    d.what = "cooldown";
    d.reason += "; cooldown of " + std::to_string(cooldown) + " steps (energy.controller.cooldown_fraction " +
                number(config_.cooldown_fraction()) + ")";
    cooldown_total_ = cooldown;
    cooldown_left_ = cooldown;
  } else {
    d.stop = pb::marginal_gain;
  }
  return d;
}

void EnergyControl::precision_failed(const std::string& precision) {
  journal_event()->set_precision_failed(precision);
  if (knobs_ != nullptr) knobs_->precision_failed(precision);
}

double EnergyControl::cooldown_step() {
  JOULE_ASSERT(cooling_down(), "cooldown_step outside the cooldown");
  journal_event()->set_cooldown_step(true);
  if (cooldown_left_ > 0) --cooldown_left_;
  return cooldown_total_ > 0 ? 1.0 - static_cast<double>(cooldown_left_) / static_cast<double>(cooldown_total_) : 1.0;
}

bool EnergyControl::replay(const pb::ControlJournal& journal) {
  if (journal.ranks() != static_cast<uint32_t>(ranks_)) return false;
  for (const pb::ControlEvent& event : journal.events()) {
    switch (event.event_case()) {
      case pb::ControlEvent::kWindow: apply_window(event.window()); break;
      case pb::ControlEvent::kEval: apply_eval(event.eval()); break;
      case pb::ControlEvent::kPrecisionFailed: precision_failed(event.precision_failed()); break;
      case pb::ControlEvent::kCooldownStep: cooldown_step(); break;
      case pb::ControlEvent::EVENT_NOT_SET: break;
    }
  }
  return true;
}

double EnergyControl::predicted_full_accuracy(double final_accuracy) const {
  const double full = full_budget_energy_j();
  if (stop_rule_ == nullptr || full <= 0 || !stop_rule_->fit().ok) return 0;
  // the fit saw the evaluations before the cooldown; a full run anneals at its end too, so what the
  // cooldown added above the fitted curve at this run's energy is added at the full budget's
  const double annealing =
      cooldown_total_ > 0 && job_energy_j_ > 0 ? std::max(0.0, final_accuracy - stop_rule_->predict_accuracy(job_energy_j_))
                                               : 0.0;
  return std::min(1.0, stop_rule_->predict_accuracy(full) + annealing);
}

double EnergyControl::full_budget_energy_j() const {
  if (samples_ <= 0 || job_energy_j_ <= 0) return 0;
  return job_energy_j_ / samples_ * static_cast<double>(setup_.train_size) * static_cast<double>(setup_.epochs);
}

}  // namespace joule
