// KnobPolicy on synthetic traces: a fake system gives energy and time per sample for every setting
// (worse during the transient after a change), a noise-scale trajectory and a loss curve; the
// harness closes fixed windows, applies the policy's changes and checks what it chose.
#include "energy/knob_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/expect_error.h"

namespace joule::energy {

void PrintTo(const Setting& setting, std::ostream* out) { *out << setting_name(setting); }

namespace {

struct System {
  std::function<double(const Setting&)> j_per_sample;  // steady state, J
  std::function<double(const Setting&)> s_per_sample;  // steady state, s
  std::function<double(double)> noise_scale = [](double) { return 0.0; };
  std::function<double(const Setting&, double)> loss = [](const Setting&, double t) { return 2.0 / (1 + t / 100); };
  double transient_energy_factor = 3, transient_time_factor = 2;  // during the first transient_s after a change
  double warmup_energy_factor = 1;                                // before warmup_s
};

struct Trace {
  std::vector<WindowObservation> windows;
  std::vector<KnobDecision> decisions;
  std::vector<Setting> incumbent_before;  // the policy's incumbent when the window ran
  std::vector<Setting> incumbent_after;
};

using Hook =
    std::function<void(size_t, KnobPolicy&, Setting&, double&)>;  // window index, policy, setting, since_change

// Closes windows of window_s; with to_boundaries, a window also ends where the policy asks
// (KnobPolicy::next_boundary_s, as the trainer does).
Trace simulate(KnobPolicy& policy, const System& sys, const KnobPolicyOptions& options, Setting setting, size_t windows,
               double window_s = 2, const Hook& hook = {}, bool to_boundaries = false) {
  Trace trace;
  double t = 0, job = 0, since_change = 0;
  for (size_t i = 0; i < windows; ++i) {
    if (hook) hook(i, policy, setting, since_change);
    double length = window_s;
    const double boundary = to_boundaries ? policy.next_boundary_s() : 0;
    if (boundary > t && boundary - t < length) length = boundary - t;
    const double transient = std::clamp(options.transient_s - since_change, 0.0, length);
    const double j = sys.j_per_sample(setting), s = sys.s_per_sample(setting);
    const double n_transient = transient / (s * sys.transient_time_factor);
    const double n_steady = (length - transient) / s;
    WindowObservation w;
    w.setting = setting;
    w.seconds = length;
    w.samples = n_transient + n_steady;
    w.energy_j = (n_transient * j * sys.transient_energy_factor + n_steady * j) *
                 (t < options.warmup_s ? sys.warmup_energy_factor : 1.0);
    w.since_change_s = since_change;
    w.noise_scale = sys.noise_scale(t);
    w.mean_loss = sys.loss(setting, t + length / 2);
    t += length;
    job += w.energy_j;
    w.job_energy_j = job;
    w.train_seconds = t;
    trace.incumbent_before.push_back(policy.incumbent());
    KnobDecision d = policy.observe(w);
    trace.windows.push_back(w);
    trace.incumbent_after.push_back(policy.incumbent());
    if (d.change) {
      setting = d.next;
      since_change = 0;
    } else {
      since_change += length;
    }
    trace.decisions.push_back(std::move(d));
  }
  return trace;
}

KnobPolicyOptions options_for(std::vector<int64_t> batches, std::vector<std::string> precisions) {
  KnobPolicyOptions o;
  o.batches = std::move(batches);
  o.precisions = std::move(precisions);
  return o;
}

const std::vector<int64_t> kBatches = {32, 64, 128, 256, 512, 1024, 2048, 4096};

// Energy per sample e0 + e1/B (a per-step overhead amortised over the batch), bf16 at 0.7x.
System convex_system(double bf16_energy = 0.7) {
  System sys;
  sys.j_per_sample = [=](const Setting& s) {
    return (1e-3 + 0.2 / double(s.batch)) * (s.precision == "bf16" ? bf16_energy : 1.0);
  };
  sys.s_per_sample = [](const Setting& s) {
    return (2e-5 + 4e-3 / double(s.batch)) * (s.precision == "bf16" ? 0.8 : 1.0);
  };
  return sys;
}

// The test's own cost per effective sample (efficiency (Bn + B0)/(Bn + B), Pollux) and argmin.
double cost_of(const System& sys, const KnobPolicyOptions& o, double noise_scale, const Setting& s) {
  const double efficiency = noise_scale > 0 ? (noise_scale + o.reference_batch) / (noise_scale + s.batch) : 1.0;
  return sys.j_per_sample(s) / efficiency;
}

Setting cheapest(const System& sys, const KnobPolicyOptions& o, double noise_scale) {
  Setting best;
  double best_cost = std::numeric_limits<double>::infinity();
  for (int64_t b : o.batches)
    for (const std::string& p : o.precisions)
      if (cost_of(sys, o, noise_scale, {b, p}) < best_cost)
        best_cost = cost_of(sys, o, noise_scale, {b, p}), best = {b, p};
  return best;
}

TEST(KnobPolicy, FixedBatchAndPrecisionNeverChange) {
  KnobPolicyOptions o = options_for({256}, {"f32"});
  System sys = convex_system();
  sys.noise_scale = [](double t) { return 10 + 50 * t; };
  KnobPolicy policy(o, {256, "f32"});
  Trace trace = simulate(policy, sys, o, {256, "f32"}, 1000);
  for (const KnobDecision& d : trace.decisions) EXPECT_FALSE(d.change) << d.reason;
  EXPECT_EQ(policy.incumbent(), (Setting{256, "f32"}));
  EXPECT_EQ(policy.explore_energy_j(), 0);
}

TEST(KnobPolicy, NothingBeforeWarmupAndWarmupWindowsNotMeasured) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  o.warmup_s = 40;
  System sys = convex_system();
  sys.warmup_energy_factor = 5;  // counted, it would show in the incumbent's energy per sample
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 400);
  size_t first_change = trace.windows.size();
  for (size_t i = trace.windows.size(); i-- > 0;)
    if (trace.decisions[i].change || !trace.decisions[i].reason.empty()) first_change = i;
  ASSERT_LT(first_change, trace.windows.size());
  EXPECT_GE(trace.windows[first_change].train_seconds, o.warmup_s);
  bool found = false;
  for (const SettingEstimate& m : policy.measurements()) {
    if (!(m.setting == Setting{128, "f32"})) continue;
    found = true;
    EXPECT_NEAR(m.j_per_sample / sys.j_per_sample(m.setting), 1, 1e-9);  // the 5x warm-up windows left out
  }
  EXPECT_TRUE(found);
}

TEST(KnobPolicy, TransientWindowsNotCounted) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  o.transient_s = 1.5;           // inside the first 2-s window after a change
  o.max_explore_fraction = 0.2;  // the 10x transients are charged: room for several profiles
  System sys = convex_system();
  sys.transient_energy_factor = 10;
  sys.noise_scale = [](double) { return 400.0; };
  KnobPolicy policy(o, {128, "f32"});
  simulate(policy, sys, o, {128, "f32"}, 2000);
  std::vector<SettingEstimate> measured = policy.measurements();
  EXPECT_GE(measured.size(), 4u);
  for (const SettingEstimate& m : measured) {
    EXPECT_NEAR(m.j_per_sample / sys.j_per_sample(m.setting), 1, 1e-9) << setting_name(m.setting);
    EXPECT_NEAR(m.s_per_sample / sys.s_per_sample(m.setting), 1, 1e-9) << setting_name(m.setting);
  }
}

TEST(KnobPolicy, ExplorationEnergyWithinBudget) {
  for (double fraction : {0.01, 0.05, 0.2}) {
    KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
    o.max_explore_fraction = fraction;
    o.stale_s = 60;  // keeps re-profiling, so the budget binds all along
    System sys = convex_system();
    sys.noise_scale = [](double t) { return 100 + 2 * t; };
    KnobPolicy policy(o, {128, "f32"});
    Trace trace = simulate(policy, sys, o, {128, "f32"}, 3000);
    double explored = 0, largest_window = 0;
    size_t probes = 0;
    for (size_t i = 0; i < trace.windows.size(); ++i) {
      const WindowObservation& w = trace.windows[i];
      largest_window = std::max(largest_window, w.energy_j);
      // exploration energy: beyond what the incumbent (measured: the true steady cost) spends on the same samples
      if (!(w.setting == trace.incumbent_before[i]))
        explored += std::max(0.0, w.energy_j - sys.j_per_sample(trace.incumbent_before[i]) * w.samples);
      EXPECT_LE(explored, fraction * w.job_energy_j + largest_window) << "window " << i << ", fraction " << fraction;
      if (trace.decisions[i].change && trace.decisions[i].reason.find("profile") != std::string::npos) ++probes;
    }
    EXPECT_GE(probes, 3u) << fraction;
    EXPECT_NEAR(policy.explore_energy_j(), explored, 1e-9 * explored);
  }
}

TEST(KnobPolicy, FindsCheapestSettingOfConvexLandscape) {
  for (double noise : {60.0, 400.0, 1500.0}) {
    KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
    o.max_explore_fraction = 0.2;
    System sys = convex_system();
    sys.noise_scale = [=](double) { return noise; };
    const Setting optimum = cheapest(sys, o, noise);
    // The landscape is convex along the batch and its optimum stands out of the hysteresis band.
    for (int64_t b : {optimum.batch / 2, optimum.batch * 2})
      ASSERT_GT(cost_of(sys, o, noise, {b, optimum.precision}), 1.05 * cost_of(sys, o, noise, optimum)) << b;
    KnobPolicy policy(o, {128, "f32"});
    const size_t windows = 600;  // 20 minutes of 2-s windows
    Trace trace = simulate(policy, sys, o, {128, "f32"}, windows);
    EXPECT_EQ(policy.incumbent(), optimum) << "B_noise " << noise << ": " << trace.decisions.back().detail_json;
    size_t found = windows;
    for (size_t i = windows; i-- > 0 && trace.incumbent_after[i] == optimum;) found = i;
    EXPECT_LT(found, 300u) << "B_noise " << noise;
  }
}

// Windows that end where the policy asks (the warm-up's end, a transient's, a measurement's) let it
// reach the optimum sooner than windows that straddle those points; once nothing is being measured
// it asks for none.
TEST(KnobPolicy, WindowsEndingAtItsBoundariesShortenTheClimb) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  o.max_explore_fraction = 0.5;
  o.warmup_s = 1;
  o.transient_s = 1;
  o.measure_s = 0.5;
  System sys = convex_system();
  sys.noise_scale = [](double) { return 400.0; };
  const Setting optimum = cheapest(sys, o, 400);
  auto seconds_to_optimum = [&](const Trace& trace) {
    for (size_t i = 0; i < trace.windows.size(); ++i)
      if (trace.incumbent_after[i] == optimum) return trace.windows[i].train_seconds;
    return std::numeric_limits<double>::infinity();
  };
  KnobPolicy fixed(o, {128, "f32"}), aligned(o, {128, "f32"});
  // 0.45-s windows: a transient of 1 s ends inside the third window after a change
  const Trace fixed_trace = simulate(fixed, sys, o, {128, "f32"}, 400, 0.45);
  const Trace aligned_trace = simulate(aligned, sys, o, {128, "f32"}, 400, 0.45, {}, /*to_boundaries=*/true);
  ASSERT_EQ(fixed.incumbent(), optimum);
  ASSERT_EQ(aligned.incumbent(), optimum);
  EXPECT_LT(seconds_to_optimum(aligned_trace), 0.9 * seconds_to_optimum(fixed_trace));
  // every profile is followed by a window that starts exactly when its transient is over
  int profiles = 0;
  for (size_t i = 0; i + 1 < aligned_trace.windows.size(); ++i) {
    const KnobDecision& d = aligned_trace.decisions[i];
    if (!d.change || d.detail_json.find("\"phase\":\"profile\"") == std::string::npos) continue;
    ++profiles;
    bool found = false;
    for (size_t k = i + 1; k < aligned_trace.windows.size() && !found; ++k) {
      found = std::fabs(aligned_trace.windows[k].since_change_s - o.transient_s) < 1e-9;
      if (aligned_trace.decisions[k].change) break;
    }
    EXPECT_TRUE(found) << "after the profile that began at window " << i;
  }
  EXPECT_GE(profiles, 2);
  EXPECT_EQ(aligned.next_boundary_s(), 0.0) << "settled: no window boundary wanted";
}

// Two batches whose cost per sample differs by `gain` (no noise scale: efficiency 1).
Trace two_batch_trace(double gain, KnobPolicy*& policy_out, std::unique_ptr<KnobPolicy>& holder) {
  KnobPolicyOptions o = options_for({128, 256}, {"f32"});
  o.max_explore_fraction = 0.5;
  System sys;
  sys.j_per_sample = [=](const Setting& s) { return s.batch == 256 ? 1e-3 * (1 - gain) : 1e-3; };
  sys.s_per_sample = [](const Setting&) { return 1e-4; };
  holder = std::make_unique<KnobPolicy>(o, Setting{128, "f32"});
  policy_out = holder.get();
  return simulate(*holder, sys, o, {128, "f32"}, 500);
}

TEST(KnobPolicy, HysteresisThreePercentNoSwitchEightPercentSwitches) {
  std::unique_ptr<KnobPolicy> holder;
  KnobPolicy* policy = nullptr;
  Trace small = two_batch_trace(0.03, policy, holder);
  bool profiled = false;
  for (size_t i = 0; i < small.windows.size(); ++i) {
    EXPECT_EQ(small.incumbent_after[i], (Setting{128, "f32"})) << small.decisions[i].reason;
    profiled = profiled || small.windows[i].setting.batch == 256;
  }
  EXPECT_TRUE(profiled);  // it measured the 3% gain and kept the incumbent
  EXPECT_EQ(small.windows.back().setting, (Setting{128, "f32"}));

  Trace large = two_batch_trace(0.08, policy, holder);
  EXPECT_EQ(policy->incumbent(), (Setting{256, "f32"}));
  EXPECT_EQ(large.windows.back().setting, (Setting{256, "f32"}));
}

TEST(KnobPolicy, ChosenBatchGrowsWithNoiseScale) {
  KnobPolicyOptions o = options_for(kBatches, {"f32"});
  o.max_explore_fraction = 0.1;
  System sys = convex_system();
  const double ramp_s = 3000;  // B_noise 100 -> 5000 geometrically, then constant
  sys.noise_scale = [=](double t) { return 100 * std::pow(50.0, std::min(t, ramp_s) / ramp_s); };
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 2500);  // 5000 s
  const Setting early = cheapest(sys, o, 100), late = cheapest(sys, o, 5000);
  ASSERT_LT(early.batch, late.batch);                        // the landscape itself moves
  EXPECT_EQ(trace.incumbent_after[150].batch, early.batch);  // at 300 s, B_noise ≈ 150
  EXPECT_EQ(policy.incumbent(), late);
  int64_t largest_so_far = 0;
  size_t grew = 0;
  for (const Setting& s : trace.incumbent_after) {
    if (s.batch > largest_so_far) ++grew;
    largest_so_far = std::max(largest_so_far, s.batch);
  }
  EXPECT_GE(grew, 3u);
}

// Batch 128 or 256 in f32, a 10-s warm-up, half the job's energy for exploration.
KnobPolicyOptions two_batches_after_a_warmup() {
  KnobPolicyOptions o = options_for({128, 256}, {"f32"});
  o.warmup_s = 10;
  o.max_explore_fraction = 0.5;
  return o;
}

// A job shorter than reevaluate_s: B_noise 50 while batch 256 is profiled (+19% per effective
// sample: kept 128), then doubling every 3 s from t = 30; 256 becomes ≥ 5% cheaper at B_noise 221
// (t ≈ 36.4). Evaluating when B_noise has moved 1.5× switches by B_noise 1.5 × 221 (t ≈ 38.2, and
// the smoothing's lag); the 30-s cadence alone evaluates next at t ≈ 46.
TEST(KnobPolicy, AGrowingNoiseScaleIsActedOnBeforeTheNextScheduledEvaluation) {
  auto first_switch_s = [](double ratio) {
    KnobPolicyOptions o = two_batches_after_a_warmup();
    o.reevaluate_noise_ratio = ratio;
    System sys = convex_system();
    sys.noise_scale = [](double t) { return t < 30 ? 50.0 : 50 * std::exp2((t - 30) / 3); };
    KnobPolicy policy(o, {128, "f32"});
    Trace trace = simulate(policy, sys, o, {128, "f32"}, 60, 1.0);
    bool profiled = false;
    for (size_t i = 0; i < trace.windows.size(); ++i) {
      profiled = profiled || trace.windows[i].setting.batch == 256;
      if (trace.incumbent_after[i].batch == 256) {
        EXPECT_TRUE(profiled);
        return trace.windows[i].train_seconds;
      }
    }
    return 1e9;
  };
  const double crossing_s = 30 + 3 * std::log2(221.0 / 50);
  const double acted_s = first_switch_s(1.5);
  EXPECT_GE(acted_s, crossing_s);
  // by the next 1.5x of B_noise, plus a window, plus the smoothing's lag behind an exponential growth
  // (the mean age of its weights, half-life / ln 2)
  EXPECT_LE(acted_s, crossing_s + 3 * std::log2(1.5) + 1 + KnobPolicyOptions{}.noise_half_life_s / std::log(2.0));
  EXPECT_GT(first_switch_s(0), 44.0);                         // off: the 30-s cadence
}

// B_noise alternating 100 and 1600 from window to window (geometric mean 400): 256 is 14% cheaper
// per effective sample at 400 but 8% dearer at 100. Smoothed across windows the policy switches to
// 256 once and stays; reading each window's value as it comes, it flips back and forth.
TEST(KnobPolicy, AScatteredNoiseScaleCausesNoFlipFlop) {
  auto switches = [](double half_life_s) {
    KnobPolicyOptions o = two_batches_after_a_warmup();
    o.noise_half_life_s = half_life_s;
    System sys = convex_system();
    sys.noise_scale = [](double t) { return int(std::floor(t)) % 2 == 0 ? 100.0 : 1600.0; };
    KnobPolicy policy(o, {128, "f32"});
    Trace trace = simulate(policy, sys, o, {128, "f32"}, 120, 1.0);
    int count = 0;
    for (const KnobDecision& d : trace.decisions) count += d.switched ? 1 : 0;
    if (half_life_s > 1) {
      EXPECT_EQ(policy.incumbent().batch, 256);
    }
    return count;
  };
  EXPECT_EQ(switches(2.0), 1);
  EXPECT_GE(switches(1e-3), 3);  // the raw values: the control that shows the smoothing matters
}

// Batch 256 is 30% cheaper per sample than 128, but the one window measuring its profile runs 1.6×
// costlier (a shared machine's hiccup): read alone, +11%. A candidate measured costlier by less than
// confirm_margin is measured for another measure_s; the second window brings the mean to -10%, and
// the policy switches. Without the confirmation it keeps 128.
TEST(KnobPolicy, ANarrowlyCostlierProfileIsMeasuredAgainBeforeItIsRejected) {
  auto final_batch = [](double confirm_margin, int* windows_at_256) {
    KnobPolicyOptions o = two_batches_after_a_warmup();
    o.warmup_s = 4;
    o.measure_s = 1;
    o.confirm_margin = confirm_margin;
    System sys = convex_system();
    auto calls = std::make_shared<int>(0);
    sys.j_per_sample = [calls](const Setting& s) {
      const double j = 1e-3 + 0.2 / double(s.batch);
      const bool first_measured_window = s.batch == 256 && ++*calls == 2;  // the first is the transient
      return first_measured_window ? 1.6 * j : j;
    };
    KnobPolicy policy(o, {128, "f32"});
    Trace trace = simulate(policy, sys, o, {128, "f32"}, 20, 1.0);
    *windows_at_256 = *calls;
    return trace.incumbent_after.back().batch;
  };
  int confirmed_windows = 0, single_windows = 0;
  EXPECT_EQ(final_batch(0.25, &confirmed_windows), 256);
  EXPECT_EQ(final_batch(0, &single_windows), 128);
  EXPECT_EQ(single_windows, 2);  // transient + one measured window, then back to 128 for good
  EXPECT_GT(confirmed_windows, 3);
}

// The start is no change: warmup_s is its transient, so with warmup_s 0.5 < transient_s 1 the
// incumbent is measured from 0.5 s; after a change the transient still applies in full.
TEST(KnobPolicy, TheWarmUpIsTheStartsTransient) {
  KnobPolicyOptions o = options_for({128, 256}, {"f32"});
  o.warmup_s = 0.5;
  o.transient_s = 1;
  o.measure_s = 0.5;
  o.max_explore_fraction = 1;
  System sys = convex_system();
  KnobPolicy policy(o, {128, "f32"});
  auto measured = [&](const Setting& s) {
    for (const SettingEstimate& e : policy.measurements())
      if (e.setting == s) return e.measured_s;
    return 0.0;
  };
  double measured_128_at_1s = -1, measured_256_at_2s = -1;
  // windows of 0.25 s: index 4 starts at 1 s, index 8 at 2 s (256's transient is 1-2 s)
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 10, 0.25, [&](size_t i, KnobPolicy&, Setting&, double&) {
    if (i == 4) measured_128_at_1s = measured({128, "f32"});
    if (i == 8) measured_256_at_2s = measured({256, "f32"});
  });
  EXPECT_DOUBLE_EQ(measured_128_at_1s, 0.5);  // the windows from 0.5 s
  ASSERT_TRUE(trace.decisions[3].change);      // measured: 256 is profiled from 1 s
  EXPECT_EQ(trace.decisions[3].next.batch, 256);
  EXPECT_DOUBLE_EQ(measured_256_at_2s, 0);     // its transient
  EXPECT_GT(measured({256, "f32"}), 0);
}

// A clearly costlier candidate (+60%, beyond confirm_margin) is not measured again.
TEST(KnobPolicy, AClearlyCostlierProfileEndsWithoutConfirmation) {
  KnobPolicyOptions o = two_batches_after_a_warmup();
  o.warmup_s = 4;
  o.measure_s = 1;
  System sys = convex_system();
  sys.j_per_sample = [](const Setting& s) { return s.batch == 256 ? 1.6e-3 : 1e-3; };
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 20, 1.0);
  const auto at_256 = std::count_if(trace.windows.begin(), trace.windows.end(),
                                    [](const WindowObservation& w) { return w.setting.batch == 256; });
  EXPECT_EQ(at_256, 2);  // transient + measure_s
  EXPECT_EQ(trace.incumbent_after.back().batch, 128);
}

TEST(KnobPolicy, MaxSlowdownExcludesCheapButSlowSetting) {
  auto run = [](double max_slowdown) {
    KnobPolicyOptions o = options_for({128, 256}, {"f32"});
    o.max_slowdown = max_slowdown;
    o.max_explore_fraction = 0.5;
    System sys;
    sys.j_per_sample = [](const Setting& s) { return s.batch == 256 ? 0.7e-3 : 1e-3; };  // 30% cheaper
    sys.s_per_sample = [](const Setting& s) { return s.batch == 256 ? 1.5e-4 : 1e-4; };  // 1.5x slower
    KnobPolicy policy(o, {128, "f32"});
    Trace trace = simulate(policy, sys, o, {128, "f32"}, 400);
    bool profiled = false;
    for (const WindowObservation& w : trace.windows) profiled = profiled || w.setting.batch == 256;
    EXPECT_TRUE(profiled);
    return policy.incumbent();
  };
  EXPECT_EQ(run(1.2), (Setting{128, "f32"}));
  EXPECT_EQ(run(2.0), (Setting{256, "f32"}));
  EXPECT_EQ(run(0), (Setting{256, "f32"}));
}

Setting precision_run(double bf16_loss_factor, Trace* out = nullptr, bool losses = true, std::string start = "f32") {
  KnobPolicyOptions o = options_for({128}, {"f32", "bf16"});
  o.max_explore_fraction = 0.5;
  System sys = convex_system(0.7);
  sys.loss = [=](const Setting& s, double t) {
    if (!losses) return std::numeric_limits<double>::quiet_NaN();
    return (2.0 / (1 + t / 100)) * (s.precision == "bf16" ? bf16_loss_factor : 1.0);
  };
  KnobPolicy policy(o, {128, start});
  Trace trace = simulate(policy, sys, o, {128, start}, 1000);
  if (out) *out = trace;
  return policy.incumbent();
}

TEST(KnobPolicy, Bf16WithWorseLossRejected) {
  Trace trace;
  EXPECT_EQ(precision_run(1.05, &trace), (Setting{128, "f32"}));
  bool profiled = false;
  for (size_t i = 0; i < trace.windows.size(); ++i) {
    EXPECT_EQ(trace.incumbent_after[i].precision, "f32");
    profiled = profiled || trace.windows[i].setting.precision == "bf16";
  }
  EXPECT_TRUE(profiled);
  // No loss to compare: bf16 is not chosen, and re-profiled only once its failed verdict is stale.
  EXPECT_EQ(precision_run(1.0, &trace, false), (Setting{128, "f32"}));
  size_t profiles = 0;
  for (const KnobDecision& d : trace.decisions) profiles += d.change && d.next.precision == "bf16";
  EXPECT_GE(profiles, 1u);
  EXPECT_LE(profiles, 1 + size_t(trace.windows.back().train_seconds / KnobPolicyOptions{}.stale_s));
  EXPECT_EQ(precision_run(1.0), (Setting{128, "bf16"}));   // same loss: the cheaper bf16 is chosen
  EXPECT_EQ(precision_run(1.01), (Setting{128, "bf16"}));  // within loss_tolerance
}

// The loss falls steeply during the warm-up (2.5 → 0.5 over its 10 s), then slowly: the f32 trend
// the bf16 profile is compared with comes from the windows after the warm-up, so a bf16 as good as
// f32 is accepted (a line through the warm-up windows extrapolates the fall below zero).
TEST(KnobPolicy, SteepWarmupLossIsNotTheTrendBf16IsComparedWith) {
  KnobPolicyOptions o = options_for({128}, {"f32", "bf16"});
  o.max_explore_fraction = 0.5;
  o.loss_tolerance = 0.1;
  System sys = convex_system(0.7);
  sys.loss = [&](const Setting&, double t) {
    return t < o.warmup_s ? 2.5 - 0.2 * t : 0.5 / (1 + (t - o.warmup_s) / 200);
  };
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 200);
  EXPECT_EQ(policy.incumbent(), (Setting{128, "bf16"}));
  for (const KnobDecision& d : trace.decisions) EXPECT_EQ(d.reason.find("loss "), std::string::npos) << d.reason;
}

// Window losses with ±10% noise (a deterministic hash of the time, the same for both precisions):
// a bf16 whose losses come from the same distribution as f32's passes although single windows
// differ by more than loss_tolerance (2%), as long as the excess is within the noise; a bf16 50%
// worse is still rejected.
Setting noisy_precision_run(double bf16_loss_factor) {
  KnobPolicyOptions o = options_for({128}, {"f32", "bf16"});
  o.max_explore_fraction = 0.5;
  o.measure_s = 6;  // three clean 2-s windows: a spread to measure
  System sys = convex_system(0.7);
  sys.loss = [=](const Setting& s, double t) {
    const double u = std::fmod(std::fabs(std::sin(t * 12.9898) * 43758.5453), 1.0);  // in [0, 1)
    return (1.0 / (1 + t / 200)) * (1 + 0.2 * (u - 0.5)) * (s.precision == "bf16" ? bf16_loss_factor : 1.0);
  };
  KnobPolicy policy(o, {128, "f32"});
  simulate(policy, sys, o, {128, "f32"}, 300);
  return policy.incumbent();
}

TEST(KnobPolicy, NoisyWindowLossesDoNotFailAHealthyBf16) {
  EXPECT_EQ(noisy_precision_run(1.0), (Setting{128, "bf16"}));
  EXPECT_EQ(noisy_precision_run(1.5), (Setting{128, "f32"}));
}

// Early training, the loss still falling but ever more slowly: the f32 trend fitted to the few
// windows before the profile, extrapolated across the transient to the profile, predicts a loss
// lower than f32 itself would reach there. The verdict allows for that extrapolation's error (it
// grows with the gap, against how well the reference windows pin the slope): a bf16 on the same
// curve passes, one 50% worse still fails.
// Batch 128 fixed, precision f32 or bf16, with these phases of the profile (s).
KnobPolicyOptions precision_options(double warmup_s, double measure_s, double transient_s) {
  KnobPolicyOptions o = options_for({128}, {"f32", "bf16"});
  o.max_explore_fraction = 0.5;
  o.warmup_s = warmup_s;
  o.measure_s = measure_s;
  o.transient_s = transient_s;
  return o;
}

Setting decelerating_precision_run(double bf16_loss_factor) {
  const KnobPolicyOptions o = precision_options(4, 2, 2);
  System sys = convex_system(0.7);
  sys.loss = [=](const Setting& s, double t) {
    const double u = std::fmod(std::fabs(std::sin(t * 12.9898) * 43758.5453), 1.0);  // in [0, 1)
    return (0.3 + 3.0 / (1 + t / 2)) * (1 + 0.04 * (u - 0.5)) * (s.precision == "bf16" ? bf16_loss_factor : 1.0);
  };
  KnobPolicy policy(o, {128, "f32"});
  simulate(policy, sys, o, {128, "f32"}, 40, 1.0);
  return policy.incumbent();
}

TEST(KnobPolicy, ExtrapolatedF32TrendDoesNotFailAHealthyBf16) {
  EXPECT_EQ(decelerating_precision_run(1.0), (Setting{128, "bf16"}));
  EXPECT_EQ(decelerating_precision_run(1.5), (Setting{128, "f32"}));
}

// One f32 window past the warm-up (0.5-s windows, as the benchmark job's): the reference's slope is
// then the profile's own, from two windows 0.5 s apart, carried back across the ~1.75 s between them
// and the f32 window. Window noise of ±12% makes that slope steep: carried back, it put the f32
// loss at 43% of the profile's and failed a bf16 on the same curve. The verdict counts that
// slope's error over the gap: such a bf16 passes; one twice as lossy where the windows' noise is
// ±2% still fails.
Setting one_reference_window_run(double bf16_loss_factor, double noise) {
  const KnobPolicyOptions o = precision_options(1, 0.5, 1);
  System sys = convex_system(0.7);
  sys.loss = [=](const Setting& s, double t) {
    const bool odd = static_cast<int64_t>(std::floor(t / 0.5)) % 2 == 1;  // the window [k/2, (k+1)/2)
    return 0.5 * std::exp(-0.02 * t) * (odd ? 1 + noise : 1 - noise) * (s.precision == "bf16" ? bf16_loss_factor : 1.0);
  };
  KnobPolicy policy(o, {128, "f32"});
  simulate(policy, sys, o, {128, "f32"}, 60, 0.5);
  return policy.incumbent();
}

TEST(KnobPolicy, OneReferenceWindowAndTheProfilesOwnSlopeDoNotFailAHealthyBf16) {
  EXPECT_EQ(one_reference_window_run(1.0, 0.12), (Setting{128, "bf16"}));
  EXPECT_EQ(one_reference_window_run(2.0, 0.02), (Setting{128, "f32"}));
}

// Windows as the trainer closes them at batch 128 with 0.5-s windows: one full f32 window past the
// warm-up, then a 0.07-s sliver of 6 steps (the measurement's remainder after an evaluation) whose
// mean loss came out 15% low, then the bf16 profile. Each window carries its standard error (1% of
// the loss for ~40 steps, 6% for the sliver). Counted like a full window, the sliver made a slope
// of −0.65/s that, carried to the profile, put f32 at a third of a bf16 on the same curve and failed
// it (0.41 vs 0.27 in a benchmark run). Weighted by its error it barely counts: that bf16 passes, one
// 30% worse fails. The loss has no transient: the profile's transient windows count, and it ends
// after transient_s + measure_s (three windows), not after two clean windows more.
struct PrecisionDriver {
  KnobPolicy policy;
  Setting setting{128, "f32"};
  double t = 0, job = 0, since_change = 0;
  double bf16_factor = 1;
  KnobDecision window(double seconds, double loss_noise = 1, double sem_fraction = 0.01) {
    WindowObservation w;
    w.setting = setting;
    w.seconds = seconds;
    w.samples = 1e4 * seconds;
    w.energy_j = w.samples * (setting.precision == "bf16" ? 1.4e-3 : 2e-3);
    w.since_change_s = since_change;
    w.mean_loss = 0.5 * std::exp(-0.1 * (t + seconds / 2)) * loss_noise * (setting.precision == "bf16" ? bf16_factor : 1);
    w.loss_sem = sem_fraction * w.mean_loss;
    t += seconds;
    job += w.energy_j;
    w.job_energy_j = job;
    w.train_seconds = t;
    KnobDecision d = policy.observe(w);
    if (d.change) setting = d.next, since_change = 0;
    else since_change += seconds;
    return d;
  }
};

KnobPolicyOptions sliver_options() {
  KnobPolicyOptions o = precision_options(1, 0.5, 1);
  o.loss_tolerance = 0.1;  // EnergyControl's
  return o;
}

// Returns the incumbent after the profile and the number of bf16 windows it ran.
std::pair<Setting, int> sliver_run(double bf16_factor, std::string* detail = nullptr) {
  PrecisionDriver d{KnobPolicy(sliver_options(), {128, "f32"})};
  d.bf16_factor = bf16_factor;
  d.window(0.5, 1.6);  // the warm-up: loss falling steeply
  d.window(0.5, 1.2);
  d.window(0.43);
  EXPECT_TRUE(d.window(0.07, 0.85, 0.06).change) << "the measured f32 starts the bf16 profile";
  EXPECT_EQ(d.setting, (Setting{128, "bf16"}));
  int bf16_windows = 0;
  for (; bf16_windows < 10 && d.setting.precision == "bf16"; ++bf16_windows) {
    KnobDecision k = d.window(0.5);
    if (!k.reason.empty()) {
      if (detail) *detail = k.detail_json;
      return {d.policy.incumbent(), bf16_windows + 1};
    }
  }
  ADD_FAILURE() << "the profile did not end";
  return {d.policy.incumbent(), bf16_windows};
}

TEST(KnobPolicy, AWindowOfFewStepsCountsLittleInTheLossComparison) {
  std::string detail;
  const auto [healthy, windows] = sliver_run(1.0, &detail);
  EXPECT_EQ(healthy, (Setting{128, "bf16"})) << detail;
  EXPECT_EQ(windows, 3) << "transient_s + measure_s of 0.5-s windows";
  EXPECT_NE(detail.find("\"windows\":3,\"f32_windows\":2,\"weighted\":true"), std::string::npos) << detail;
  EXPECT_EQ(sliver_run(1.3).first, (Setting{128, "f32"}));
}

// Windows that end where the policy asks (as the trainer's do): a loss comparison whose windows all
// carry their standard error closes its last window as soon as measure_s is covered (a short window
// counts for little there); unweighted, every window counts alike, so the profile runs whole ones.
double bf16_clean_seconds(double sem_fraction) {
  PrecisionDriver d{KnobPolicy(sliver_options(), {128, "f32"})};
  const double window_s = 0.4;
  for (int i = 0; i < 20 && d.setting.precision == "f32"; ++i) {
    const double boundary = d.policy.next_boundary_s();
    d.window(boundary > d.t && boundary - d.t < window_s ? boundary - d.t : window_s, 1, sem_fraction);
  }
  EXPECT_EQ(d.setting.precision, "bf16") << "the bf16 profile started";
  double clean = 0;
  for (int i = 0; i < 20; ++i) {
    const double boundary = d.policy.next_boundary_s();
    const double length = boundary > d.t && boundary - d.t < window_s ? boundary - d.t : window_s;
    const bool transient = d.since_change < sliver_options().transient_s;
    if (!d.window(length, 1, sem_fraction).reason.empty()) return clean + (transient ? 0 : length);
    if (!transient) clean += length;
  }
  ADD_FAILURE() << "the profile did not end";
  return clean;
}

TEST(KnobPolicy, AWeightedLossComparisonClosesItsLastWindowShort) {
  const double measure_s = sliver_options().measure_s;
  EXPECT_NEAR(bf16_clean_seconds(0.01), measure_s, 1e-9) << "0.4 s, then the 0.1 s that completes measure_s";
  EXPECT_GT(bf16_clean_seconds(0), measure_s + 0.2) << "whole windows without standard errors";
}

TEST(KnobPolicy, StartInBf16ComparesWithF32) {
  Trace trace;
  EXPECT_EQ(precision_run(1.0, &trace, true, "bf16"), (Setting{128, "bf16"}));
  bool profiled = false;
  for (const WindowObservation& w : trace.windows) profiled = profiled || w.setting.precision == "f32";
  EXPECT_TRUE(profiled);  // kept bf16 after comparing with f32
  EXPECT_EQ(precision_run(1.05, nullptr, true, "bf16"), (Setting{128, "f32"}));
}

// Exploration is charged only beyond the incumbent's cost: on a landscape where every larger batch
// is cheaper, climbing to the largest costs no exploration energy at all.
TEST(KnobPolicy, ProfilingACheaperSettingCostsNoExplorationEnergy) {
  KnobPolicyOptions o = options_for(kBatches, {"f32"});
  System sys = convex_system();
  sys.noise_scale = [](double) { return 1e9; };  // efficiency ≈ 1 for every batch
  sys.j_per_sample = [](const Setting& s) { return 1e-3 * 64.0 / static_cast<double>(s.batch); };
  sys.transient_energy_factor = sys.transient_time_factor = 1;  // a change costs nothing by itself
  KnobPolicy policy(o, {kBatches.front(), "f32"});
  simulate(policy, sys, o, {kBatches.front(), "f32"}, 1500);
  EXPECT_EQ(policy.incumbent(), (Setting{kBatches.back(), "f32"}));
  EXPECT_EQ(policy.explore_energy_j(), 0);
}

TEST(KnobPolicy, PrecisionFailedExcludesBf16Forever) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  o.max_explore_fraction = 0.2;
  o.stale_s = 60;
  System sys = convex_system(0.5);
  sys.noise_scale = [](double t) { return 200 + t; };
  KnobPolicy policy(o, {128, "f32"});
  size_t failed_at = 0;
  Hook hook = [&](size_t i, KnobPolicy& p, Setting& setting, double& since_change) {
    if (failed_at == 0 && p.incumbent().precision == "bf16" && setting.precision == "bf16") {
      failed_at = i;
      setting.precision = "f32";  // the lead's fallback
      since_change = 0;
      p.precision_failed("bf16");
    }
  };
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 2000, 2, hook);
  ASSERT_GT(failed_at, 0u);  // bf16 (half the energy) had been chosen
  for (size_t i = failed_at; i < trace.windows.size(); ++i) {
    EXPECT_EQ(trace.windows[i].setting.precision, "f32") << "window " << i;
    EXPECT_EQ(trace.incumbent_after[i].precision, "f32");
    if (trace.decisions[i].change) {
      EXPECT_EQ(trace.decisions[i].next.precision, "f32");
    }
  }
}

TEST(KnobPolicy, FixedBf16FallsBackToF32AndStillAdaptsTheBatch) {
  KnobPolicyOptions o = options_for(kBatches, {"bf16"});
  System sys = convex_system();
  sys.noise_scale = [](double) { return 400.0; };
  KnobPolicy policy(o, {128, "bf16"});
  Hook hook = [&](size_t i, KnobPolicy& p, Setting& setting, double& since_change) {
    if (i == 20) {
      setting.precision = "f32";
      since_change = 0;
      p.precision_failed("bf16");
    }
  };
  Trace trace = simulate(policy, sys, o, {128, "bf16"}, 1500, 2, hook);
  for (size_t i = 20; i < trace.windows.size(); ++i) EXPECT_EQ(trace.windows[i].setting.precision, "f32") << i;
  EXPECT_EQ(policy.incumbent(), (Setting{cheapest(sys, options_for(kBatches, {"f32"}), 400).batch, "f32"}));
}

TEST(KnobPolicy, NoisyFlatLandscapeDoesNotFlap) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  o.max_explore_fraction = 0.2;
  o.stale_s = 60;  // many re-profiles: many chances to flap
  System sys;
  uint64_t state = 12345;  // deterministic ±1% noise per window (LCG)
  sys.j_per_sample = [&](const Setting&) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return 1e-3 * (1 + 0.02 * (double(state >> 11) / double(1ull << 53) - 0.5));
  };
  sys.s_per_sample = [](const Setting&) { return 1e-4; };
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 3000);
  size_t probes = 0;
  for (size_t i = 0; i < trace.windows.size(); ++i) {
    EXPECT_EQ(trace.incumbent_after[i], (Setting{128, "f32"})) << trace.decisions[i].reason;
    probes += trace.decisions[i].change && !(trace.decisions[i].next == Setting{128, "f32"});
  }
  EXPECT_GE(probes, 10u);
}

TEST(KnobPolicy, Deterministic) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  System sys = convex_system();
  sys.noise_scale = [](double t) { return 100 + 3 * t; };
  auto run = [&] {
    KnobPolicy policy(o, {128, "f32"});
    return simulate(policy, sys, o, {128, "f32"}, 1500);
  };
  Trace a = run(), b = run();
  size_t changes = 0;
  ASSERT_EQ(a.decisions.size(), b.decisions.size());
  for (size_t i = 0; i < a.decisions.size(); ++i) {
    EXPECT_EQ(a.decisions[i].change, b.decisions[i].change);
    EXPECT_EQ(a.decisions[i].next, b.decisions[i].next);
    EXPECT_EQ(a.decisions[i].reason, b.decisions[i].reason);
    EXPECT_EQ(a.decisions[i].detail_json, b.decisions[i].detail_json);
    changes += a.decisions[i].change;
  }
  EXPECT_GT(changes, 3u);
}

TEST(KnobPolicy, ReasonAndDetailCarryTheNumbers) {
  std::unique_ptr<KnobPolicy> holder;
  KnobPolicy* policy = nullptr;
  Trace trace = two_batch_trace(0.2, policy, holder);
  bool profile = false, adopt = false;
  for (const KnobDecision& d : trace.decisions) {
    if (d.reason.rfind("profile batch 256 f32 (explored ", 0) == 0) profile = true;
    if (d.reason.find("switch to 256/f32: 0.8 vs 1 mJ per effective sample (-20%)") != std::string::npos) {
      adopt = true;
      EXPECT_NE(d.detail_json.find("\"phase\":\"switch\""), std::string::npos) << d.detail_json;
      EXPECT_NE(d.detail_json.find("\"batch\":256,\"precision\":\"f32\",\"j_per_sample\":0.0008"), std::string::npos)
          << d.detail_json;
    }
  }
  EXPECT_TRUE(profile);
  EXPECT_TRUE(adopt);
}

TEST(KnobPolicy, InvalidOptionsRejected) {
  auto make = [](KnobPolicyOptions o, Setting start) { return [=] { KnobPolicy p(o, start); }; };
  KnobPolicyOptions good = options_for({128, 256}, {"f32", "bf16"});
  joule::testing::expect_invalid_input(make(good, {512, "f32"}), "start batch 512");
  joule::testing::expect_invalid_input(make(options_for({256, 128}, {"f32"}), {128, "f32"}), "ascending");
  joule::testing::expect_invalid_input(make(options_for({128}, {"f8"}), {128, "f8"}), "unknown precision 'f8'");
  KnobPolicyOptions bad = good;
  bad.eta = 1.5;
  joule::testing::expect_invalid_input(make(bad, {128, "f32"}), "eta");
  bad = good;
  bad.max_slowdown = 0.9;
  joule::testing::expect_invalid_input(make(bad, {128, "f32"}), "max_slowdown");
  bad = good;
  bad.reevaluate_noise_ratio = 0.8;  // a ratio below 1 would evaluate at every window
  joule::testing::expect_invalid_input(make(bad, {128, "f32"}), "reevaluate_noise_ratio");
  bad = good;
  bad.noise_half_life_s = 0;
  joule::testing::expect_invalid_input(make(bad, {128, "f32"}), "noise_half_life_s");
  bad = good;
  bad.confirm_margin = -0.1;
  joule::testing::expect_invalid_input(make(bad, {128, "f32"}), "confirm_margin");
}

// The precision ordering is learned once: bf16 is 30% cheaper at every batch, so after the first
// comparison (at the starting batch) f32 is never profiled again at another batch.
TEST(KnobPolicy, PrecisionOrderingIsLearnedOnce) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  System sys = convex_system(0.7);
  sys.noise_scale = [](double) { return 1e9; };  // efficiency ≈ 1: larger batches are cheaper
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 1500);
  EXPECT_EQ(policy.incumbent().precision, "bf16");
  EXPECT_GE(policy.incumbent().batch, 1024) << "it climbed the batches in bf16";
  bool profiled_bf16 = false;
  for (const WindowObservation& w : trace.windows) {
    profiled_bf16 = profiled_bf16 || w.setting.precision == "bf16";
    if (w.setting.precision == "f32") {
      EXPECT_EQ(w.setting.batch, 128) << "f32 profiled again at a new batch";
    }
  }
  EXPECT_TRUE(profiled_bf16);
}

// From 128/f32 every single step gains under the 5% hysteresis (bf16 −2%, batch 256 −4%), while
// two steps away the landscape falls steeply (256/bf16 −40%, 512/bf16 −55%): a climb that only
// looked at the incumbent's neighbours would stay at 128/f32 for good.
TEST(KnobPolicy, ClimbsPastNeighboursThatEachGainLessThanTheHysteresis) {
  KnobPolicyOptions o = options_for(kBatches, {"f32", "bf16"});
  o.max_explore_fraction = 0.3;
  System sys;
  const std::map<Setting, double> relative = {
      {{64, "f32"}, 1.5},   {{64, "bf16"}, 1.5},   {{128, "f32"}, 1.0},  {{128, "bf16"}, 0.98},
      {{256, "f32"}, 0.96}, {{256, "bf16"}, 0.60}, {{512, "f32"}, 0.94}, {{512, "bf16"}, 0.45},
      {{1024, "f32"}, 1.0}, {{1024, "bf16"}, 0.55}};
  sys.j_per_sample = [&](const Setting& s) {
    const auto it = relative.find(s);
    return 1e-3 * (it != relative.end() ? it->second : 2.0);
  };
  sys.s_per_sample = [](const Setting&) { return 1e-4; };
  sys.noise_scale = [](double) { return 1e9; };  // efficiency ≈ 1 at every batch
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 400);
  EXPECT_EQ(policy.incumbent(), (Setting{512, "bf16"})) << trace.decisions.back().detail_json;
  // every switch on the way gained at least the hysteresis
  for (size_t i = 0; i < trace.windows.size(); ++i) {
    if (trace.incumbent_after[i] == trace.incumbent_before[i]) continue;
    EXPECT_LE(relative.at(trace.incumbent_after[i]), 0.95 * relative.at(trace.incumbent_before[i])) << trace.decisions[i].reason;
  }
}

// While B_noise ≥ the batch, a smaller batch is predicted less efficient: it is profiled only after
// every other candidate. From 128, batch 256 gains 3% (under the hysteresis) and 512 gains 40%; the
// climb goes on to 512 through 256's neighbour before it ever tries 64 (30% costlier: a profile of
// it cost +30% of a benchmark run's energy for nothing).
TEST(KnobPolicy, ASmallerBatchAgainstTheNoiseScaleIsProfiledLast) {
  KnobPolicyOptions o = options_for({64, 128, 256, 512, 1024}, {"f32"});
  o.max_explore_fraction = 0.3;
  System sys;
  const std::map<int64_t, double> relative = {{64, 1.3}, {128, 1.0}, {256, 0.97}, {512, 0.6}, {1024, 0.62}};
  sys.j_per_sample = [&](const Setting& s) { return 1e-3 * relative.at(s.batch); };
  sys.s_per_sample = [](const Setting&) { return 1e-4; };
  sys.noise_scale = [](double) { return 1e9; };  // efficiency ≈ 1: larger is as efficient
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 200);
  EXPECT_EQ(policy.incumbent(), (Setting{512, "f32"})) << trace.decisions.back().detail_json;
  std::vector<int64_t> profiled;  // batches in the order they first ran
  for (const WindowObservation& w : trace.windows)
    if (std::count(profiled.begin(), profiled.end(), w.setting.batch) == 0) profiled.push_back(w.setting.batch);
  ASSERT_GE(profiled.size(), 3u);
  EXPECT_EQ(profiled[1], 256);
  EXPECT_EQ(profiled[2], 512) << "the neighbour of the promising 256 before the smaller 64";
  const auto at_64 = std::find(profiled.begin(), profiled.end(), 64);
  EXPECT_TRUE(at_64 == profiled.end() || at_64 - profiled.begin() > 2);
}

// A step measured level with the incumbent (+2%, within the hysteresis either way: a window's
// noise put 128/bf16 at +0% in a benchmark run) is no dead end: its neighbours are profiled, and
// the climb reaches 256/bf16 (−40%) beyond it. (Only settings measured cheaper were followed: the
// run stayed at 128/f32.)
TEST(KnobPolicy, ClimbsAcrossAStepMeasuredLevelWithTheIncumbent) {
  KnobPolicyOptions o = options_for({64, 128, 256}, {"f32", "bf16"});
  o.max_explore_fraction = 0.3;
  System sys;
  const std::map<Setting, double> relative = {{{64, "f32"}, 1.5},  {{64, "bf16"}, 1.5},   {{128, "f32"}, 1.0},
                                              {{128, "bf16"}, 1.02}, {{256, "f32"}, 1.2}, {{256, "bf16"}, 0.6}};
  sys.j_per_sample = [&](const Setting& s) { return 1e-3 * relative.at(s); };
  sys.s_per_sample = [](const Setting&) { return 1e-4; };
  sys.noise_scale = [](double) { return 1e9; };
  KnobPolicy policy(o, {128, "f32"});
  Trace trace = simulate(policy, sys, o, {128, "f32"}, 200);
  EXPECT_EQ(policy.incumbent(), (Setting{256, "bf16"})) << trace.decisions.back().detail_json;
}

}  // namespace
}  // namespace joule::energy
