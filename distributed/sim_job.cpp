// SimJob (distributed/sim_job.h): the simulated job's loop, its windows as the controller sees them,
// and the run directory in a run's schema.
#include "distributed/sim_job.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "core/build_info.h"
#include "core/config.h"
#include "core/config_checker.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/json_record.h"
#include "core/progress.h"
#include "core/text_parse_error.h"
#include "core/utf8_cut.h"
#include "distributed/energy_control.h"
#include "distributed/run_outputs.h"
#include "distributed/sim_clock_knob.h"
#include "energy/meter.h"
#include "energy/window_log.h"
#include "energy/sim/cluster_model.h"
#include "energy/sim/progress_model.h"
#include "ops/lr_scaling.h"

namespace joule {
namespace {

namespace gp = google::protobuf;
namespace fs = std::filesystem;

// The controller section with a run's rules (core/config_controller.cpp), its messages naming
// "controller." (the scenario's field) instead of "energy.controller.".
void validate_controller_section(const pb::SimScenario& s, const std::string& origin) {
  const pb::ControllerConfig& k = s.controller();
  for (int i = 0; i < k.precision().allowed_size(); ++i) {
    const std::string& p = k.precision().allowed(i);
    JOULE_CHECK(p == "f32" || p == "bf16", origin, ": controller.precision.allowed[", i, "] = \"", p,
                "\": expected f32 or bf16 (the simulator's precisions)");
  }
  JOULE_CHECK(k.min_gain_per_epoch() == 0, origin, ": controller.min_gain_per_epoch = ", k.min_gain_per_epoch(),
              ": the simulator has no epochs (its progress is in samples): expected 0; set controller.min_gain_per_kj");
  pb::Config config;
  *config.mutable_energy()->mutable_controller() = k;
  config.mutable_energy()->mutable_clock()->set_gpu("local");  // every simulated rank has a clock
  config.mutable_run()->set_device("cuda");
  try {
    Checker checker(origin);
    validate_controller(checker, config);
  } catch (const Error& e) {
    std::string message = e.message();
    for (size_t at; (at = message.find("energy.controller.")) != std::string::npos;)
      message.replace(at, 18, "controller.");
    JOULE_FAIL_INPUT(message);
  }
}

void validate_sim_job(const pb::SimScenario& s, const std::string& origin) {
  sim::validate_sim_scenario(s, origin);
  JOULE_CHECK(std::isfinite(s.window_s()) && s.window_s() > 0, origin, ": window_s: expected a value > 0, got ",
              s.window_s());
  JOULE_CHECK(s.eval_every_samples() >= 0, origin, ": eval_every_samples: expected a value ≥ 0, got ",
              s.eval_every_samples());
  JOULE_CHECK(s.test_size() >= 1, origin, ": test_size: expected a value ≥ 1, got ", s.test_size());
  JOULE_CHECK(s.log_every_steps() >= 1, origin, ": log_every_steps: expected a value ≥ 1, got ", s.log_every_steps());
  sim::validate_sim_progress(s.progress(), origin);
  validate_controller_section(s, origin);
}

// At most `limit` bytes, cut at a UTF-8 character boundary (a cut "→" is invalid UTF-8 to protobuf).
std::string shorten(const std::string& text, size_t limit) {
  return utf8_shorten(text, limit, "… (metrics.jsonl has the whole decision)");
}

std::string number(double v, const char* format = "%.4g") {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

std::string energy_text(double j) {
  if (j >= 1e9) return number(j / 1e9, "%.3f") + " GJ";
  if (j >= 1e6) return number(j / 1e6, "%.3f") + " MJ";
  return number(j / 1e3, "%.3f") + " kJ";
}

// Rank logs, buffered: each flush appends every rank's lines with one write (LineWriter).
class RankLogs {
 public:
  RankLogs(const std::string& run_dir, int ranks) : buffers_(static_cast<size_t>(ranks)) {
    for (int r = 0; r < ranks; ++r) {
      char name[32];
      std::snprintf(name, sizeof name, "rank-%05d.jsonl", r);
      paths_.push_back((fs::path(run_dir) / name).string());
    }
  }
  void add(int rank, const std::string& line) {
    std::string& b = buffers_[static_cast<size_t>(rank)];
    if (!b.empty()) b += '\n';
    b += line;
    bytes_ += line.size() + 1;
    if (bytes_ > (32u << 20)) flush();
  }
  void flush() {
    for (size_t r = 0; r < buffers_.size(); ++r) {
      if (buffers_[r].empty()) continue;
      LineWriter writer(paths_[r]);
      writer.write_line(buffers_[r]);  // whole lines, the last one's newline added here
      buffers_[r].clear();
    }
    bytes_ = 0;
  }

 private:
  std::vector<std::string> paths_, buffers_;
  size_t bytes_ = 0;
};

// A simulated rank's meter: the model's cumulative energy of that rank at the job clock, read at
// window edges by the rank's WindowLog (EnergyAccountant) as a run reads NVML. Source "sim".
class SimRankMeter : public energy::Meter {
 public:
  SimRankMeter(const double* energy_j, const double* now_s) : energy_j_(energy_j), now_s_(now_s) {}
  energy::MeterReading read() override {
    energy::MeterReading r;
    r.time_s = *now_s_;
    r.gpu_j = *energy_j_;
    return r;
  }
  std::vector<std::string> sources() const override { return {"sim"}; }
  bool measured() const override { return false; }

 private:
  const double* energy_j_;
  const double* now_s_;
};

// One simulated job: the ClusterModel, the progress model, the controller, the outputs.
class SimRun {
 public:
  SimRun(const SimJobInput& input, const SimJobOptions& options, const std::string& run_dir);
  pb::Summary run();
  const std::vector<double>& decision_seconds() const { return decision_s_; }

 private:
  std::vector<double> decision_s_;  // wall seconds of each window's decide()
  void apply_pending();
  void one_step();
  void log_step(bool last);
  void evaluate();
  void close_window(bool stopping);
  void take_decision(const ControlDecision& d);
  void check_stop();
  void show_progress(bool force);
  pb::Summary finish();

  const pb::SimScenario& s_;
  SimJobOptions options_;
  std::string run_dir_;
  sim::GpuModel gpu_;
  sim::ClusterModel model_;
  sim::ProgressModel progress_;
  int n_;
  // each rank's SM-clock knob (the interface training applies clocks through), over one list
  std::shared_ptr<const std::vector<unsigned>> supported_clocks_;
  std::vector<SimClockKnob> clock_knobs_;
  std::unique_ptr<EnergyControl> control_;
  RunOutputs outputs_;
  RankLogs logs_;

  pb::Knobs knobs_;
  std::optional<pb::Knobs> pending_;
  std::vector<double> clocks_;  // per rank, MHz: the clock its knob runs it at
  int64_t step_ = 0;
  double samples_ = 0, samples_before_ = 0;
  pb::StopReason stop_ = pb::running;
  int64_t last_eval_step_ = -1;
  uint64_t evals_ = 0;
  double last_accuracy_ = -1, best_accuracy_ = 0;
  uint32_t knob_changes_ = 0, decisions_ = 0;
  std::string pending_decision_;
  int64_t last_progress_step_ = 0;
  // the open window
  double window_start_s_ = 0, window_samples_ = 0, window_loss_sum_ = 0;
  int64_t window_steps_ = 0;
  std::vector<double> clock_s_;   // Σ effective clock × compute seconds: the clock a meter would measure
  // per rank, as a training run accounts: a meter of the model's cumulative energy, and the
  // WindowLog (PhaseClock, EnergyAccountant, the record) whose lines go to logs_
  std::vector<double> total_j_;
  double now_s_ = 0;  // the job clock, for the meters
  std::vector<std::unique_ptr<SimRankMeter>> meters_;
  std::vector<std::unique_ptr<energy::WindowLog>> window_logs_;
  // B_noise as a run measures it: the gradient statistics a step of the progress model's noise
  // scale gives (|μ|² = 1, tr Σ = B_noise; each rank's mean gradient over its share of the batch),
  // through the trainer's estimator and its smoothing (ops/lr_scaling.h; none with one rank)
  GradientNoiseEstimate noise_;
};

pb::SimScenario for_run(const SimJobInput& input, const SimJobOptions& options) {
  pb::SimScenario s = input.scenario;
  if (options.baseline) {
    pb::ControllerConfig* k = s.mutable_controller();
    k->mutable_batch_size()->set_mode(pb::FIXED);
    k->mutable_precision()->set_mode(pb::FIXED);
    k->mutable_clocks()->set_mode(pb::FIXED);
  }
  return s;
}

SimRun::SimRun(const SimJobInput& input, const SimJobOptions& options, const std::string& run_dir)
    : s_(input.scenario),
      options_(options),
      run_dir_(run_dir),
      gpu_(input.calibration, input.gpu_path),
      model_(input.scenario, gpu_, input.scenario_path),
      progress_(input.scenario.progress(), input.scenario.global_batch(), input.scenario.seed()),
      n_(input.scenario.ranks()),
      outputs_(RunOutputsOptions{run_dir, true, options.progress, false, false}),
      logs_(run_dir, input.scenario.ranks()),
      clocks_(static_cast<size_t>(n_), gpu_.f_max_mhz()),
      clock_s_(n_),
      total_j_(n_) {
  supported_clocks_ = std::make_shared<const std::vector<unsigned>>(sim_supported_clocks(gpu_));
  clock_knobs_.reserve(static_cast<size_t>(n_));
  for (int r = 0; r < n_; ++r) {
    clock_knobs_.emplace_back(gpu_, supported_clocks_);
    meters_.push_back(std::make_unique<SimRankMeter>(&total_j_[static_cast<size_t>(r)], &now_s_));
    window_logs_.push_back(std::make_unique<energy::WindowLog>(
        [this, r](const std::string& line) { logs_.add(r, line); }, static_cast<uint32_t>(r), "sim", *meters_.back(),
        s_.window_s(), 0.0, 0.0));
  }
  knobs_.set_global_batch(static_cast<uint32_t>(s_.global_batch()));
  knobs_.set_micro_batches(1);
  knobs_.set_precision(s_.precision());
  const pb::ControllerConfig& k = s_.controller();
  if (!controller_active(k)) {
    outputs_.message("energy controller: off (no knob on ADAPT, no stop rule)");
    return;
  }
  ControlSetup setup;
  setup.test_size = s_.test_size();
  // the candidates as a training run derives them (energy_control.h); the batch's default upper
  // bound is 16× the start (a run's is what its data allows)
  if (k.batch_size().mode() == pb::ADAPT && n_ >= 2)
    setup.batches = candidate_batches(k.batch_size(), n_, s_.global_batch(), n_, 16 * s_.global_batch(),
                                      std::numeric_limits<int64_t>::max());
  if (k.precision().mode() == pb::ADAPT) setup.precisions = candidate_precisions(k.precision());
  if (k.clocks().mode() == pb::ADAPT) setup.supported_mhz = candidate_clocks(*supported_clocks_, k.clocks());
  if (!setup.supported_mhz.empty()) {
    setup.clock_min_mhz = setup.supported_mhz.front();
    setup.clock_max_mhz = setup.supported_mhz.back();
  }
  std::string what;
  if (setup.batches.size() > 1)
    what += "batch " + std::to_string(setup.batches.front()) + ".." + std::to_string(setup.batches.back());
  if (setup.precisions.size() > 1) what += std::string(what.empty() ? "" : ", ") + "precision f32/bf16";
  if (!setup.supported_mhz.empty())
    what += std::string(what.empty() ? "" : ", ") + "sm clock " + std::to_string(setup.clock_min_mhz) + ".." +
            std::to_string(setup.clock_max_mhz) + " MHz";
  outputs_.message("energy controller: " + (what.empty() ? std::string("no knob adapted") : "adapts " + what));
  control_ = std::make_unique<EnergyControl>(k, setup, knobs_, n_);
  control_->keep_journal(false);
}

// A decided change, at the step boundary after the window that decided it (Trainer::Run::apply_control).
void SimRun::apply_pending() {
  if (!pending_) return;
  pb::Knobs next = *pending_;
  pending_.reset();
  bool changed = next.global_batch() != knobs_.global_batch() || next.precision() != knobs_.precision();
  if (next.sm_clock_mhz_size() == n_) {
    for (int r = 0; r < n_; ++r) {
      // through the rank's knob, as Trainer::Run::apply_clock; the knob setting keeps the request
      const uint32_t mhz = next.sm_clock_mhz(r);
      const uint32_t before = r < knobs_.sm_clock_mhz_size() ? knobs_.sm_clock_mhz(r) : 0;
      if (mhz == before) continue;
      SimClockKnob& knob = clock_knobs_[static_cast<size_t>(r)];
      if (mhz == 0)
        knob.reset();
      else
        knob.lock_sm_clock(mhz);
      if (clocks_[static_cast<size_t>(r)] != knob.running_mhz()) changed = true;
      clocks_[static_cast<size_t>(r)] = knob.running_mhz();
    }
  }
  knobs_ = next;
  if (changed) ++knob_changes_;
}

void SimRun::one_step() {
  const double t0 = model_.job_time_s();
  const sim::StepResult& r = model_.step(clocks_, knobs_.global_batch(), knobs_.precision());
  const int64_t batch = knobs_.global_batch();
  using energy::Phase;
  for (int i = 0; i < n_; ++i) {
    const sim::RankStep& rs = r.ranks[static_cast<size_t>(i)];
    const double f = clocks_[static_cast<size_t>(i)];
    clock_s_[i] += gpu_.effective_clock_mhz(f, sim::StepPhase::forward) * rs.forward_s +
                   gpu_.effective_clock_mhz(f, sim::StepPhase::backward) * rs.backward_s;
    total_j_[i] += rs.energy_j;
    // the phases as the trainer marks them; the rest of the step (rounding only) is idle
    energy::PhaseClock& clock = window_logs_[static_cast<size_t>(i)]->clock();
    clock.enter(Phase::forward, t0);
    clock.enter(Phase::backward, t0 + rs.forward_s);
    clock.enter(Phase::comm_wait, t0 + rs.forward_s + rs.backward_s);  // blocked at the all-reduce
    clock.enter(Phase::idle, t0 + rs.forward_s + rs.backward_s + rs.wait_s + rs.comm_s);
    // rank i's share of each step's batch (sim.proto)
    window_logs_[static_cast<size_t>(i)]->step_done(step_ + 1, batch / n_ + (i < batch % n_ ? 1 : 0));
  }
  now_s_ = model_.job_time_s();
  // expected squared norms: |g_local|² = |μ|² + tr Σ/b averaged over ranks, |G|² = |μ|² + tr Σ/B
  const double trace = progress_.noise_scale();
  const int64_t local = std::max<int64_t>(1, batch / n_);
  noise_.observe(1 + trace / static_cast<double>(local), 1 + trace / static_cast<double>(batch), n_, local);
  progress_.step(knobs_.global_batch());
  ++step_;
  ++window_steps_;
  samples_before_ = samples_;
  samples_ += knobs_.global_batch();
  window_samples_ += knobs_.global_batch();
  window_loss_sum_ += progress_.loss();
  if (control_ != nullptr && control_->cooling_down()) control_->cooldown_step();  // lr decay: not modelled
}

void SimRun::log_step(bool last) {
  if (step_ % s_.log_every_steps() != 0 && !last) return;
  pb::TrainRecord record;
  record.set_kind("train");
  record.set_step(static_cast<uint32_t>(step_));
  record.set_samples(samples_);
  record.set_loss(progress_.loss());
  record.set_batch_size(knobs_.global_batch());
  record.set_precision(knobs_.precision());
  outputs_.train_line(record, model_.job_time_s());
}

void SimRun::evaluate() {
  const double accuracy = progress_.measured_accuracy(s_.test_size(), evals_++);
  last_eval_step_ = step_;
  last_accuracy_ = accuracy;
  best_accuracy_ = std::max(best_accuracy_, accuracy);
  std::vector<double> rank_j(static_cast<size_t>(n_));
  double job_j = 0;
  for (int r = 0; r < n_; ++r) {
    rank_j[r] = total_j_[r];
    job_j += rank_j[r];
  }
  pb::EvalRecord record;
  record.set_kind("eval");
  record.set_step(static_cast<uint32_t>(step_));
  record.set_samples(samples_);
  record.set_energy_j(job_j);
  record.set_accuracy(accuracy);
  record.set_eval_loss(progress_.loss());  // the model's loss (no separate test loss is modelled)
  record.set_seconds(model_.job_time_s());
  outputs_.eval_line(record, rank_j, model_.job_time_s(), model_.job_time_s());
  if (control_ == nullptr) return;
  pb::ControlEval e;
  e.set_accuracy(accuracy);
  e.set_job_energy_j(job_j);
  e.set_step(step_);
  take_decision(control_->decide(e));
}

// As Trainer::Run::take_decision: the metrics line, the progress message, the change kept for the
// next step, the stop.
void SimRun::take_decision(const ControlDecision& d) {
  if (d.what.empty() && d.stop == pb::running) return;
  ++decisions_;
  pb::DecisionRecord record;
  record.set_kind("decision");
  record.set_step(static_cast<uint32_t>(step_));
  record.set_samples(samples_);
  record.set_energy_j(control_->job_energy_j());
  record.set_what(d.what);
  record.set_reason(d.reason);
  record.set_detail(d.detail_json.empty() ? "{}" : d.detail_json);
  outputs_.decision_line(record);
  outputs_.message("step " + std::to_string(step_) + ": controller: " + shorten(d.reason, 400));
  if (d.knobs) pending_ = *d.knobs;
  if (d.stop != pb::running && stop_ == pb::running) stop_ = d.stop;
  pending_decision_ += (pending_decision_.empty() ? "" : "; ") + ("controller: " + shorten(d.reason, 400));
}

// The window as the ranks' WindowLogs account it (each rank's meter differenced, its phases), the
// controller's look at it as window_closed gathers it, then the records with the decision taken.
void SimRun::close_window(bool stopping) {
  if (window_steps_ == 0) return;
  const double now = model_.job_time_s(), seconds = now - window_start_s_;
  const double per_step = 1.0 / static_cast<double>(window_steps_);
  using energy::Phase;
  auto at = [](const energy::PhaseSeconds& v, Phase p) { return v[static_cast<size_t>(p)]; };
  std::vector<energy::WindowEnergy> taken(static_cast<size_t>(n_));
  pb::ControlWindow w;
  for (int r = 0; r < n_; ++r) {
    const energy::WindowEnergy& e = taken[static_cast<size_t>(r)] = window_logs_[static_cast<size_t>(r)]->take_window(now);
    const double compute = at(e.phase_seconds, Phase::forward) + at(e.phase_seconds, Phase::backward);
    w.set_window_j(w.window_j() + e.total_j);
    w.add_clock_mhz(static_cast<uint32_t>(std::lround(clocks_[r])));
    w.add_compute_s_per_step(compute * per_step);
    w.add_wait_s_per_step(at(e.phase_seconds, Phase::comm_wait) * per_step);
    w.add_sm_clock_measured_mhz(compute > 0 ? static_cast<uint32_t>(std::lround(clock_s_[r] / compute)) : 0);
  }
  w.set_train_j(w.window_j());  // evaluations cost nothing here
  w.set_wall_s(seconds);        // every rank's window is the job clock's
  w.set_train_s(seconds);
  *w.mutable_knobs() = knobs_;
  w.set_step(step_);
  w.set_samples(window_samples_);
  w.set_mean_loss(window_loss_sum_ * per_step);
  w.set_noise_scale(noise_.noise_scale());
  w.set_stopping(stopping);
  if (control_ != nullptr) {
    const auto begin = std::chrono::steady_clock::now();
    ControlDecision d = control_->decide(w);
    decision_s_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
    take_decision(d);
  }
  for (int r = 0; r < n_; ++r) {
    const energy::WindowKnobs knobs{knobs_.global_batch(), knobs_.precision(),
                                    static_cast<uint32_t>(std::lround(clocks_[r]))};
    window_logs_[static_cast<size_t>(r)]->write_window(step_, knobs, pending_decision_, taken[static_cast<size_t>(r)]);
  }
  pending_decision_.clear();
  window_start_s_ = now;
  window_samples_ = window_loss_sum_ = 0;
  window_steps_ = 0;
  std::fill(clock_s_.begin(), clock_s_.end(), 0.0);
}

// As Trainer::Run::check_stop: the cooldown's end, a decided stop, max steps; each with the closing
// evaluation (not past a budget).
void SimRun::check_stop() {
  if (control_ != nullptr && control_->cooldown_done() && stop_ == pb::running) stop_ = pb::marginal_gain;
  if (stop_ == pb::running && step_ >= s_.steps()) stop_ = pb::max_steps;
  if (stop_ == pb::running && options_.stop_requested != nullptr && options_.stop_requested->load())
    stop_ = pb::interrupted;
  if (stop_ == pb::running) return;
  if (stop_ != pb::budget && last_eval_step_ != step_) evaluate();
}

void SimRun::show_progress(bool force) {
  if (step_ == last_progress_step_ || (!force && step_ - last_progress_step_ < std::max<int64_t>(1, s_.steps() / 10)))
    return;
  last_progress_step_ = step_;
  double job_j = 0;
  for (int r = 0; r < n_; ++r) job_j += total_j_[r];
  const auto [lo, hi] = std::minmax_element(clocks_.begin(), clocks_.end());
  outputs_.message("step " + std::to_string(step_) + "/" + std::to_string(s_.steps()) + " sim " +
                   format_duration(model_.job_time_s()) + " energy " + energy_text(job_j) +
                   (last_accuracy_ >= 0 ? " acc " + number(100 * last_accuracy_, "%.1f") + "%" : "") + " loss " +
                   number(progress_.loss(), "%.3f") + " batch " + std::to_string(knobs_.global_batch()) + " " +
                   knobs_.precision() + " clocks " + number(*lo, "%.0f") + ".." + number(*hi, "%.0f") + " MHz");
}

pb::Summary SimRun::run() {
  outputs_.knobs(0, knobs_, 0);
  while (stop_ == pb::running) {
    apply_pending();
    one_step();
    log_step(step_ >= s_.steps());
    if (s_.eval_every_samples() > 0 && std::floor(samples_ / static_cast<double>(s_.eval_every_samples())) >
                                           std::floor(samples_before_ / static_cast<double>(s_.eval_every_samples())))
      evaluate();
    if (model_.job_time_s() - window_start_s_ >= s_.window_s()) close_window(false);
    show_progress(false);
    check_stop();
  }
  return finish();
}

pb::Summary SimRun::finish() {
  close_window(true);
  logs_.flush();
  show_progress(true);
  pb::Summary summary;
  summary.set_world_size(static_cast<uint32_t>(n_));
  summary.set_steps(static_cast<uint32_t>(step_));
  summary.set_samples(samples_);
  summary.set_seconds(model_.job_time_s());
  double total = 0;
  for (const auto& log : window_logs_) {
    const double e = log->closed_energy_j();  // the rank's closed windows
    summary.add_energy_j_per_rank(e);
    total += e;
  }
  const double accuracy = std::max(0.0, last_accuracy_);
  summary.set_energy_j(total);
  summary.set_j_per_sample(samples_ > 0 ? total / samples_ : 0);
  summary.set_accuracy_per_kj(total > 0 ? accuracy / (total / 1000) : 0);
  summary.set_final_accuracy(accuracy);
  summary.set_best_accuracy(best_accuracy_);
  summary.set_stop_reason(pb::StopReason_Name(stop_));
  summary.add_sources("sim");
  summary.set_measured(false);
  summary.set_samples_per_s(model_.job_time_s() > 0 ? samples_ / model_.job_time_s() : 0);
  summary.set_model("sim");
  summary.set_joule_version(JOULE_VERSION);
  summary.set_batch_size(knobs_.global_batch());
  summary.set_precision(knobs_.precision());
  summary.set_knob_changes(knob_changes_);
  summary.set_controller_decisions(decisions_);
  outputs_.summary(summary);
  outputs_.message("summary: " + std::to_string(step_) + " steps, " + format_duration(model_.job_time_s()) +
                   " simulated, " + energy_text(total) + ", final accuracy " + number(100 * accuracy, "%.2f") +
                   "%, stop " + summary.stop_reason() + ", " + std::to_string(knob_changes_) + " knob changes");
  return summary;
}

}  // namespace

void apply_scenario_override(pb::SimScenario& scenario, const std::string& assignment) {
  apply_text_override(scenario, assignment, "scenario");
}

SimJobInput load_sim_job(const std::string& scenario_path, const std::vector<std::string>& overrides) {
  SimJobInput input;
  input.scenario_path = scenario_path;
  const std::string text = read_text_file(scenario_path, "simulation scenario");
  gp::TextFormat::Parser parser;
  FirstParseError errors(text);
  parser.RecordErrorsTo(&errors);
  JOULE_CHECK(parser.ParseFromString(text, &input.scenario), scenario_path, ":", errors.first());
  for (const std::string& o : overrides) apply_scenario_override(input.scenario, o);
  validate_sim_job(input.scenario, scenario_path);
  input.gpu_path = sim::resolve_gpu_calibration_path(input.scenario, scenario_path);
  input.calibration = sim::load_gpu_calibration(input.gpu_path);
  const sim::GpuModel gpu(input.calibration, input.gpu_path);
  const pb::ControllerClockConfig& clocks = input.scenario.controller().clocks();
  JOULE_CHECK(clocks.mode() != pb::ADAPT || !candidate_clocks(sim_supported_clocks(gpu), clocks).empty(), scenario_path,
              ": controller.clocks.min_mhz/max_mhz: no supported clock of ", input.gpu_path, " (",
              input.calibration.f_min_mhz(), "..", input.calibration.f_max_mhz(), " MHz) lies within [",
              clocks.min_mhz(), ", ", clocks.max_mhz(), "]");
  return input;
}

SimJobResult run_sim_job(const SimJobInput& input, const SimJobOptions& options) {
  SimJobInput job = input;
  job.scenario = for_run(input, options);
  const fs::path run_dir = fs::path(options.output) / (job.scenario.name() + (options.baseline ? "-baseline" : ""));
  std::error_code error;
  JOULE_CHECK(!fs::exists(run_dir, error) || (fs::is_directory(run_dir, error) && fs::is_empty(run_dir, error)),
              "run directory ", run_dir.string(),
              " exists already and is not empty: choose another name (--set name=...) or --output; runs are never "
              "overwritten");
  fs::create_directories(run_dir, error);
  JOULE_CHECK_IO(!error, "cannot create run directory ", run_dir.string(), ": ", error.message());
  std::string text;
  gp::TextFormat::Printer printer;
  JOULE_ASSERT(printer.PrintToString(job.scenario, &text), "printing the scenario failed");
  write_file_atomic((run_dir / "scenario.pbtxt").string(), "# gpu calibration: " + job.gpu_path + "\n" + text);
  SimRun run(job, options, run_dir.string());
  SimJobResult result;
  result.run_dir = run_dir.string();
  result.summary = run.run();
  result.window_decision_s = run.decision_seconds();
  return result;
}

}  // namespace joule
