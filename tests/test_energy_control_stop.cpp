// EnergyControl's marginal-gain stop with energy.controller.min_gain_per_epoch: the threshold in
// points/kJ is the per-epoch value over the job's kJ per epoch so far, so the same config stops at
// the same point of training on a machine that spends twice the energy per epoch. Driven through
// decide() with gathered windows (no communicator), as the cluster simulator drives it.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "distributed/energy_control.h"

namespace joule {
namespace {

constexpr int64_t kTrainSize = 1000;  // samples per epoch

// Trains half an epoch per window at `j_per_epoch` joules per epoch; evaluates after each window
// with the accuracy 90 − 8·E^(−0.6) percent (E in kJ of the job so far, a saturating curve).
// Returns the evaluation (1-based) at which the stop fired, 0 if none within 400, and the last
// stop detail in *detail; `at_stop` sees the controller when the stop fired.
int stop_evaluation(const pb::ControllerConfig& k, double j_per_epoch, std::string* detail = nullptr,
                    const std::function<void(const EnergyControl&)>& at_stop = {}) {
  ControlSetup setup;
  setup.train_size = kTrainSize;
  setup.test_size = 10000;
  setup.epochs = 1000;
  pb::Knobs start;
  start.set_global_batch(100);
  start.set_precision("f32");
  EnergyControl control(k, setup, start, /*ranks=*/1);
  for (int i = 1; i <= 400; ++i) {
    pb::ControlWindow w;
    w.set_window_j(j_per_epoch / 2);
    w.set_train_j(j_per_epoch / 2);
    w.set_wall_s(1);
    w.set_train_s(1);
    w.add_clock_mhz(0);
    w.add_compute_s_per_step(0.1);
    w.add_wait_s_per_step(0);
    *w.mutable_knobs() = start;
    w.set_step(5 * i);
    w.set_samples(kTrainSize / 2.0);
    control.decide(w);
    pb::ControlEval e;
    const double kj = control.job_energy_j() / 1000;
    e.set_accuracy((90 - 8 * std::pow(kj, -0.6)) / 100);
    e.set_job_energy_j(control.job_energy_j());
    e.set_step(5 * i);
    const ControlDecision d = control.decide(e);
    if (detail != nullptr && !d.detail_json.empty()) *detail = d.detail_json;
    if (d.stop != pb::running || d.start_cooldown) {
      if (detail != nullptr) *detail += "\n" + d.reason;
      if (at_stop) at_stop(control);
      return i;
    }
  }
  return 0;
}

// A marginal-gain stop at `threshold` points per kJ or, with per_epoch_energy, per epoch's energy.
pb::ControllerConfig stop_below(double threshold, bool per_epoch_energy) {
  pb::ControllerConfig k;
  if (per_epoch_energy) {
    k.set_min_gain_per_epoch(threshold);
  } else {
    k.set_min_gain_per_kj(threshold);
  }
  k.set_patience(2);
  k.set_cooldown_fraction(0);
  return k;
}
pb::ControllerConfig per_kj(double threshold) { return stop_below(threshold, false); }
pb::ControllerConfig per_epoch(double threshold) { return stop_below(threshold, true); }

TEST(EnergyControlStop, PerEpochThresholdIsThePerKjOneAtTheJobsEnergyPerEpoch) {
  // 100 J per epoch: 0.5 points per epoch = 5 points/kJ
  const int by_kj = stop_evaluation(per_kj(5), 100);
  std::string detail;
  const int by_epoch = stop_evaluation(per_epoch(0.5), 100, &detail);
  ASSERT_GT(by_kj, 0) << "the curve's gain falls below 5 points/kJ";
  EXPECT_EQ(by_epoch, by_kj) << detail;
  EXPECT_NE(detail.find("\"kj_per_epoch\":0.1"), std::string::npos) << detail;
  EXPECT_NE(detail.find("\"threshold_per_kj\":5"), std::string::npos) << detail;
  EXPECT_NE(detail.find("energy.controller.min_gain_per_epoch 0.5 points per epoch, at 0.1 kJ per epoch"),
            std::string::npos)
      << detail;
}

TEST(EnergyControlStop, PerEpochThresholdFollowsTheMachinesEnergyPerEpoch) {
  // A machine spending twice the joules per epoch: the per-kJ rule stops at a different epoch
  // (its threshold is a share of a larger gain per epoch), the per-epoch rule at the same epoch.
  const int kj_cheap = stop_evaluation(per_kj(5), 100), kj_costly = stop_evaluation(per_kj(5), 200);
  const int epoch_cheap = stop_evaluation(per_epoch(0.5), 100), epoch_costly = stop_evaluation(per_epoch(0.5), 200);
  ASSERT_GT(kj_cheap, 0);
  ASSERT_GT(kj_costly, 0);
  EXPECT_GT(std::abs(kj_cheap - kj_costly), 2) << "the per-kJ rule depends on the machine";
  ASSERT_GT(epoch_cheap, 0);
  // the curve is in E, so twice the joules per epoch is the same curve in epochs up to a factor
  // 2^(-0.6) in its amplitude: within a few evaluations of each other, not the per-kJ rule's spread
  EXPECT_LT(std::abs(epoch_cheap - epoch_costly), std::abs(kj_cheap - kj_costly));
}

// The full budget's predicted accuracy: the fit at its energy, plus, after a cooldown, what the
// cooldown added above the fitted curve (a full run anneals at its end too); nothing without one.
TEST(EnergyControlStop, PredictedFullAccuracyAddsWhatTheCooldownAnnealed) {
  pb::ControllerConfig with_cooldown = per_kj(5);
  with_cooldown.set_cooldown_fraction(0.2);
  double plain = 0, above_fit = 0, further = 0, without = -1, without_above = -1;
  ASSERT_GT(stop_evaluation(with_cooldown, 100, nullptr,
                            [&](const EnergyControl& c) {
                              plain = c.predicted_full_accuracy(0);  // below the fit: nothing added
                              above_fit = c.predicted_full_accuracy(0.90);
                              further = c.predicted_full_accuracy(0.92);
                            }),
            0);
  ASSERT_GT(stop_evaluation(per_kj(5), 100, nullptr,
                            [&](const EnergyControl& c) {
                              without = c.predicted_full_accuracy(0);
                              without_above = c.predicted_full_accuracy(0.92);
                            }),
            0);
  EXPECT_GT(plain, 0.8);
  EXPECT_LT(plain, 0.9) << "the curve 90 − 8·E^(−0.6) percent stays below 90%";
  EXPECT_GT(above_fit, plain);
  EXPECT_NEAR(further - above_fit, 0.02, 1e-12) << "one point more at the end, one more predicted";
  EXPECT_DOUBLE_EQ(without_above, without) << "no cooldown: the fit alone";
}

// Batch on ADAPT over {100, 200, 400}, the larger ones cheaper per sample. Evaluations begin with the
// first profile (of 200), and the marginal-gain rule at a threshold no run meets fires as soon as it
// may, while that profile runs. The cooldown then runs at the chosen setting (the
// decision takes the knobs back from the profile), for cooldown_fraction of the samples so far in
// steps of that batch: counted in the steps so far, it would run at a profile's batch for far
// longer than the training before it.
TEST(EnergyControlStop, AProfileRunningWhenTheStopFiresIsAbandonedForTheChosenSetting) {
  pb::ControllerConfig k;
  k.mutable_batch_size()->set_mode(pb::ADAPT);
  k.set_warmup_s(1);
  k.set_measure_s(3);
  k.set_min_gain_per_kj(1e9);
  k.set_patience(2);
  k.set_cooldown_fraction(0.5);
  ControlSetup setup;
  setup.train_size = 100000;
  setup.test_size = 10000;
  setup.epochs = 1000;
  setup.batches = {100, 200, 400};
  pb::Knobs knobs;
  knobs.set_global_batch(100);
  knobs.set_precision("f32");
  EnergyControl control(k, setup, knobs, /*ranks=*/2);
  const auto j_per_sample = [](uint32_t batch) { return batch == 100 ? 1.0 : batch == 200 ? 0.8 : 0.7; };
  int64_t step = 0;
  double samples = 0;
  for (int i = 1; i <= 200; ++i) {
    pb::ControlWindow w;
    const double n = 1000;  // samples per 1-s window
    w.set_window_j(n * j_per_sample(knobs.global_batch()));
    w.set_train_j(w.window_j());
    w.set_wall_s(1);
    w.set_train_s(1);
    for (int r = 0; r < 2; ++r) {
      w.add_clock_mhz(0);
      w.add_compute_s_per_step(0.1);
      w.add_wait_s_per_step(0);
    }
    *w.mutable_knobs() = knobs;
    step += static_cast<int64_t>(n) / knobs.global_batch();
    samples += n;
    w.set_step(step);
    w.set_samples(n);
    const ControlDecision window = control.decide(w);
    if (window.knobs) knobs = *window.knobs;  // applied at the next step
    if (knobs.global_batch() == 100) continue;  // evaluations from the first profile on
    pb::ControlEval e;
    e.set_accuracy(0.5 + 0.001 * i);
    e.set_job_energy_j(control.job_energy_j());
    e.set_step(step);
    const ControlDecision d = control.decide(e);
    if (!d.start_cooldown) continue;
    ASSERT_TRUE(d.knobs.has_value()) << "the stop fired outside a profile: " << d.reason;
    EXPECT_NE(d.knobs->global_batch(), knobs.global_batch()) << d.reason;
    EXPECT_NE(d.reason.find("back from the profile of " + std::to_string(knobs.global_batch()) + "/f32 to " +
                            std::to_string(d.knobs->global_batch()) + "/f32"),
              std::string::npos)
        << d.reason;
    EXPECT_EQ(d.cooldown_steps, static_cast<int64_t>(std::ceil(0.5 * samples / d.knobs->global_batch()))) << d.reason;
    return;
  }
  FAIL() << "the stop never fired";
}

}  // namespace
}  // namespace joule
