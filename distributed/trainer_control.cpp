// Trainer::Run's side of the energy controller (distributed/energy_control.h): what it may choose
// from (candidate batches, precisions, clocks), a decision at every window close and evaluation,
// and the change applied at the step boundary where every rank took it.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/clock.h"
#include "core/config.h"
#include "distributed/trainer_run.h"

namespace joule {

std::unique_ptr<EnergyControl> Trainer::Run::make_control() {
  const pb::ControllerConfig& k = s_.config.energy().controller();
  if (!controller_active(k)) return nullptr;
  ControlSetup setup;
  setup.train_size = s_.train_set.size();
  setup.test_size = s_.test_set.size();
  setup.epochs = s_.config.train().epochs();
  const int world = s_.comm.size();
  if (k.batch_size().mode() == pb::ADAPT) {
    if (world < 2) {
      outputs_.message("warning: energy.controller.batch_size.mode = ADAPT needs >= 2 ranks (the gradient noise "
                       "scale compares the ranks' gradients): the batch stays at " +
                       std::to_string(s_.knobs.global_batch()));
    } else {
      setup.batches = candidate_batches(k.batch_size(), world, s_.knobs.global_batch(), s_.bounds.min_batch,
                                        s_.bounds.max_batch, s_.bounds.max_batch);
    }
  }
  if (k.precision().mode() == pb::ADAPT) {
    for (const std::string& p : candidate_precisions(k.precision())) {
      if (p == "bf16" && !s_.bf16_unavailable.empty()) {
        outputs_.message("warning: energy.controller.precision: bf16 is unavailable here (" + s_.bf16_unavailable +
                         "): the controller keeps f32");
        continue;
      }
      setup.precisions.push_back(p);
    }
  }
  if (k.clocks().mode() == pb::ADAPT) {
    energy::ClockKnob* clock = io_.clock;
    if (clock == nullptr || !clock->available()) {
      outputs_.message("warning (rank " + std::to_string(s_.comm.rank()) +
                       "): energy.controller.clocks.mode = ADAPT: the clock knob is unavailable" +
                       (clock != nullptr ? " (" + clock->reason() + ")" : std::string()) + "; clocks stay as they are");
    } else {
      setup.supported_mhz = candidate_clocks(clock->supported_mhz(), k.clocks());
      if (!setup.supported_mhz.empty()) {
        setup.clock_min_mhz = setup.supported_mhz.front();
        setup.clock_max_mhz = setup.supported_mhz.back();
      }
    }
    // every rank must run the clock policy alike: it runs only where every rank has a clock
    double missing = setup.supported_mhz.empty() ? 1.0 : 0.0;
    s_.comm.all_reduce_sum(&missing, 1);
    if (missing > 0) setup.supported_mhz.clear();
  }
  std::string what;
  if (setup.batches.size() > 1) what += "batch " + std::to_string(setup.batches.front()) + ".." + std::to_string(setup.batches.back());
  if (setup.precisions.size() > 1) what += std::string(what.empty() ? "" : ", ") + "precision f32/bf16";
  if (!setup.supported_mhz.empty())
    what += std::string(what.empty() ? "" : ", ") + "sm clock " + std::to_string(setup.clock_min_mhz) + ".." +
            std::to_string(setup.clock_max_mhz) + " MHz (" + (io_.clock != nullptr ? io_.clock->mode() : "") + ")";
  auto text = [](double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return std::string(buffer);
  };
  outputs_.message("energy controller: " + (what.empty() ? std::string("no knob adapted") : "adapts " + what) +
                   (k.target_accuracy() > 0 ? ", target accuracy " + text(100 * k.target_accuracy()) + "%" : "") +
                   (k.min_gain_per_kj() > 0 ? ", stops below " + text(k.min_gain_per_kj()) + " points/kJ" : "") +
                   (k.min_gain_per_epoch() > 0
                        ? ", stops below " + text(k.min_gain_per_epoch()) + " points per epoch's energy"
                        : "") +
                   (k.budget_kj() > 0 ? ", budget " + text(k.budget_kj()) + " kJ" : "") +
                   (k.max_seconds() > 0 ? ", at most " + text(k.max_seconds()) + " s" : ""));
  return std::make_unique<EnergyControl>(k, setup, s_.knobs, s_.comm);
}

bool Trainer::Run::measure_noise() const {
  return s_.lr_scaling == LrScaling::adascale || (control_ != nullptr && control_->adapts_batch());
}

std::string Trainer::Run::control_window(const energy::WindowEnergy& energy) {
  if (control_ == nullptr) return "";
  RankWindow mine;
  mine.energy = energy;
  mine.clock_mhz = window_knobs().sm_clock_mhz;
  // measured_clock_mhz stays 0 (not measured) on CPUs; the CUDA step fills it from NVML's SM clock
  const double samples = s_.train.samples() - window_samples_start_;
  window_samples_start_ = s_.train.samples();
  const energy::LossWindow loss = window_loss_;
  window_loss_.reset();
  const ControlDecision d = control_->window_closed(mine, s_.knobs, static_cast<int64_t>(s_.train.step()), samples,
                                                    loss, s_.noise.noise_scale(), s_.train.stop_reason() != pb::running);
  return take_decision(d);
}

void Trainer::Run::control_eval(double accuracy, double job_energy_j) {
  if (control_ == nullptr) return;
  const ControlDecision d = control_->evaluated(accuracy, job_energy_j, static_cast<int64_t>(s_.train.step()));
  const std::string text = take_decision(d);
  if (!text.empty()) pending_decision_ += (pending_decision_.empty() ? "" : "; ") + text;
}

// Records a decision (metrics.jsonl, progress) and keeps what it changes for the step boundary;
// returns the text for the rank log.
std::string Trainer::Run::take_decision(const ControlDecision& d) {
  if (d.what.empty() && d.stop == pb::running) return "";
  ++decisions_;
  pb::DecisionRecord record;
  record.set_kind("decision");
  record.set_step(static_cast<uint32_t>(s_.train.step()));
  record.set_samples(s_.train.samples());
  record.set_energy_j(control_->job_energy_j());  // all ranks, closed windows
  record.set_what(d.what);
  record.set_reason(d.reason);
  record.set_detail(d.detail_json.empty() ? "{}" : d.detail_json);
  outputs_.decision_line(record);
  outputs_.message("step " + std::to_string(s_.train.step()) + ": controller: " + d.reason);
  if (d.knobs) control_knobs_ = *d.knobs;
  if (d.start_cooldown) cooldown_start_lr_ = -1;  // set at the first cooldown step, at the knobs it runs with
  if (d.stop != pb::running && s_.train.stop_reason() == pb::running) s_.train.set_stop_reason(d.stop);
  return "controller: " + d.reason;
}

void Trainer::Run::apply_control() {
  if (!control_knobs_) return;
  pb::Knobs next = *control_knobs_;
  control_knobs_.reset();
  if (next.global_batch() != s_.knobs.global_batch()) {  // micro-batches follow the batch (knob_control.h)
    pb::KnobChange change;
    change.set_batch_size(static_cast<int32_t>(next.global_batch()));
    const pb::Knobs resolved = resolve_change(s_.knobs, change, s_.bounds, "energy.controller.batch_size");
    next.set_micro_batches(resolved.micro_batches());
  }
  switch_knobs(next, "controller");
}

}  // namespace joule
