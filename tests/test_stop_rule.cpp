// StopRule on synthetic traces: accuracy a − b·E^(−c) (noise-free: the analytic crossing of the
// threshold is known) and traces that keep rising, with Gaussian noise from a fixed-seed
// CounterRng (deterministic across platforms).
#include "energy/stop_rule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/rng.h"

namespace joule::energy {
namespace {

struct PowerLaw {  // acc (percent) = a − b·E^(−c), E in kJ
  double a, b, c;
  double acc(double e_kj) const { return a - b * std::pow(e_kj, -c); }
  double gain(double e_kj) const { return b * c * std::pow(e_kj, -c - 1); }           // points per kJ
  double crossing(double threshold) const { return std::pow(b * c / threshold, 1 / (c + 1)); }  // kJ
};

StopRuleOptions options(double threshold, int patience) {
  StopRuleOptions o;
  o.min_gain_per_kj = threshold;
  o.patience = patience;
  return o;
}

// Index (1-based) of the evaluation at which the rule fires on acc(k·step), or 0 if never.
template <class Trace>
int stop_index(StopRule& rule, Trace trace, double step_kj, int evaluations) {
  for (int k = 1; k <= evaluations; ++k)
    if (rule.observe(k * step_kj * 1000, trace(k * step_kj) / 100).stop) return k;
  return 0;
}

TEST(StopRule, FitRecoversPowerLawParameters) {
  for (const PowerLaw truth : {PowerLaw{90, 12, 0.6}, PowerLaw{92, 0.616, 1.0}, PowerLaw{75, 30, 0.3}}) {
    StopRuleOptions o = options(0, 3);
    o.fit_window = 0;  // every point
    StopRule rule(o);
    for (int k = 1; k <= 30; ++k) rule.observe(k * 0.5 * 1000, truth.acc(k * 0.5) / 100);
    const AccuracyFit& fit = rule.fit();
    ASSERT_TRUE(fit.ok);
    EXPECT_EQ(fit.points, 30);
    EXPECT_NEAR(fit.a, truth.a, 1e-4 * truth.a);
    EXPECT_NEAR(fit.b, truth.b, 1e-4 * truth.b);
    EXPECT_NEAR(fit.c, truth.c, 1e-4);
    EXPECT_LT(fit.residual_sd, 1e-6);
    EXPECT_NEAR(rule.last_check().gain_per_kj, truth.gain(15), 1e-4 * truth.gain(15));
    EXPECT_NEAR(rule.predict_accuracy(40e3), truth.acc(40) / 100, 1e-6);  // extrapolation
  }
}

TEST(StopRule, StopsWithinOneEvaluationOfTheAnalyticCrossing) {
  struct Case { PowerLaw curve; double step_kj, threshold; };
  const Case cases[] = {{{90, 12, 0.6}, 0.5, 2.0}, {{90, 12, 0.6}, 0.25, 0.5}, {{89, 0.616, 1.0}, 0.07, 1.0},
                        {{95, 40, 0.4}, 1.0, 0.8}, {{80, 5, 2.0}, 0.2, 1.0}};
  for (const Case& c : cases) {
    for (int patience : {1, 3}) {
      // First evaluation past the crossing: there the true gain is below the threshold.
      const int first_below = static_cast<int>(std::floor(c.curve.crossing(c.threshold) / c.step_kj)) + 1;
      ASSERT_GE(first_below, 4) << "the case must cross after the rule can fit";
      const int expected = first_below + patience - 1;
      StopRule rule(options(c.threshold, patience));
      const int stopped = stop_index(rule, [&](double e) { return c.curve.acc(e); }, c.step_kj, 4 * expected);
      EXPECT_NEAR(stopped, expected, 1) << "threshold " << c.threshold << " patience " << patience
                                        << " crossing at " << c.curve.crossing(c.threshold) << " kJ";
      EXPECT_NE(rule.last_check().reason.find("for " + std::to_string(patience) + " evaluation"), std::string::npos)
          << rule.last_check().reason;
    }
  }
}

// acc rising linearly at 1.5× the threshold plus noise of known σ: the fitted gain scatters around
// the true slope and its point estimate falls below the threshold on some evaluations; the upper
// bound must keep the rule from stopping on every seed. Without the uncertainty it does stop.
TEST(StopRule, NeverStopsOnANoisyTraceThatIsStillRising) {
  const double threshold = 2.0, slope = 3.0, sigma = 1.0, step = 0.5;
  int point_estimate_below = 0, stops_without_uncertainty = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    StopRule rule(options(threshold, 3));
    StopRuleOptions blind = options(threshold, 3);
    blind.confidence_z = 0;
    StopRule blind_rule(blind);
    CounterRng rng(seed, 0, 0, RngStream::test);
    bool blind_stopped = false;
    for (int k = 1; k <= 40; ++k) {
      const double e = k * step, acc = 20 + slope * e + sigma * rng.normal();
      const StopCheck check = rule.observe(e * 1000, acc / 100);
      EXPECT_FALSE(check.stop) << "seed " << seed << " evaluation " << k << ": " << check.reason;
      if (check.fit.ok && check.gain_per_kj < threshold) ++point_estimate_below;
      blind_stopped |= blind_rule.observe(e * 1000, acc / 100).stop;
    }
    EXPECT_NEAR(rule.last_check().gain_per_kj, slope, 0.5 * slope) << "seed " << seed;
    stops_without_uncertainty += blind_stopped;
  }
  EXPECT_GT(point_estimate_below, 0) << "the trace is too easy to test the uncertainty";
  EXPECT_GT(stops_without_uncertainty, 0) << "the trace is too easy to test the uncertainty";
}

// A steep start (a − b·E^(−1.5)) followed by a long tail still rising at 1.5× the threshold: a fit
// over all points would be dominated by the early curvature; the fit window judges the tail.
TEST(StopRule, NeverStopsOnAPlateauThatIsStillRisingAfterASteepStart) {
  const double threshold = 1.0, slope = 1.5, sigma = 0.2, step = 0.25;
  int stops_fitting_all_points = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    StopRule rule(options(threshold, 3));
    StopRuleOptions all_points = options(threshold, 3);
    all_points.fit_window = 0;
    StopRule all_points_rule(all_points);
    CounterRng rng(seed, 0, 0, RngStream::test);
    bool all_points_stopped = false;
    for (int k = 1; k <= 60; ++k) {
      const double e = k * step, acc = 70 - 2 * std::pow(e, -1.5) + slope * e + sigma * rng.normal();
      const StopCheck check = rule.observe(e * 1000, acc / 100);
      EXPECT_FALSE(check.stop) << "seed " << seed << " evaluation " << k << ": " << check.reason;
      all_points_stopped |= all_points_rule.observe(e * 1000, acc / 100).stop;
    }
    stops_fitting_all_points += all_points_stopped;
  }
  EXPECT_GT(stops_fitting_all_points, 0) << "the steep start is too mild to test the fit window";
}

// The one-sided Student-t quantile against closed forms: dof 1 (Cauchy) and dof 2, and z for many.
TEST(StopRule, StudentTQuantileMatchesClosedForms) {
  for (double z : {0.5, 1.0, 1.5}) {
    const double p = 0.5 * std::erfc(-z / std::sqrt(2.0));
    const double cauchy = std::tan(M_PI * (p - 0.5));
    const double dof2 = (2 * p - 1) / std::sqrt(2 * p * (1 - p));
    EXPECT_NEAR(student_t_quantile(z, 1), cauchy, 0.04 * cauchy) << z;
    EXPECT_NEAR(student_t_quantile(z, 2), dof2, 0.01 * dof2) << z;
    EXPECT_GT(student_t_quantile(z, 2), student_t_quantile(z, 10));
    EXPECT_NEAR(student_t_quantile(z, 1e6), z, 1e-5);  // the normal quantile for many points
  }
}

TEST(StopRule, NeverStopsWhenTheRuleIsOff) {
  const PowerLaw curve{90, 12, 0.6};
  StopRule rule(options(0, 1));
  for (int k = 1; k <= 60; ++k) {
    const StopCheck check = rule.observe(k * 1000.0, curve.acc(k) / 100);
    EXPECT_FALSE(check.stop);
    EXPECT_EQ(check.below, 0);
  }
  EXPECT_TRUE(rule.fit().ok);  // the fit still predicts the final accuracy
  EXPECT_NEAR(rule.last_check().gain_per_kj, curve.gain(60), 1e-3 * curve.gain(60));
}

// Saturation (the gain falls below the threshold), then a second rise (a learning-rate drop): the
// counter resets, and the rule fires only after patience consecutive evaluations below again.
TEST(StopRule, PatienceCountsConsecutiveEvaluationsAndResetsWhenTheGainRises) {
  const PowerLaw curve{90, 12, 0.6};
  const double threshold = 2.0;
  StopRule rule(options(threshold, 3));
  std::vector<double> energy, acc;
  int k = 1;
  for (;; ++k) {  // until two evaluations below
    const StopCheck check = rule.observe(k * 500.0, curve.acc(k * 0.5) / 100);
    ASSERT_FALSE(check.stop);
    if (check.below == 2) break;
    ASSERT_LT(k, 40);
  }
  const double plateau = curve.acc(k * 0.5);
  double last = plateau;
  for (int j = 1; j <= 3; ++j) {  // rise by 3 points per 0.5 kJ: 6 points/kJ
    last = plateau + 3 * j;
    const StopCheck check = rule.observe((k + j) * 500.0, last / 100);
    EXPECT_FALSE(check.stop);
    if (j == 3) {
      EXPECT_EQ(check.below, 0) << check.reason;
    }
  }
  k += 3;
  int stopped_after = 0;
  for (int j = 1; j <= 60 && stopped_after == 0; ++j) {  // flat again
    const StopCheck check = rule.observe((k + j) * 500.0, last / 100);
    if (check.stop) {
      stopped_after = j;
      EXPECT_EQ(check.below, 3);
    } else {
      EXPECT_LT(check.below, 3);
    }
  }
  EXPECT_GE(stopped_after, 3);
}

TEST(StopRule, IdenticalInputsGiveIdenticalChecks) {
  auto run = [] {
    StopRule rule(options(1.0, 3));
    CounterRng rng(7, 0, 0, RngStream::test);
    std::vector<StopCheck> checks;
    for (int k = 1; k <= 40; ++k)
      checks.push_back(rule.observe(k * 70.0, (PowerLaw{90, 0.616, 1.0}.acc(k * 0.07) + 0.3 * rng.normal()) / 100));
    return std::make_pair(checks, rule.describe_json());
  };
  const auto [first, first_json] = run();
  const auto [second, second_json] = run();
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].stop, second[i].stop);
    EXPECT_EQ(first[i].below, second[i].below);
    EXPECT_EQ(first[i].gain_per_kj, second[i].gain_per_kj);  // bitwise: no randomness, no clocks
    EXPECT_EQ(first[i].gain_upper_per_kj, second[i].gain_upper_per_kj);
    EXPECT_EQ(first[i].fit.c, second[i].fit.c);
    EXPECT_EQ(first[i].reason, second[i].reason);
  }
  EXPECT_EQ(first_json, second_json);
  for (const char* key : {"\"a\":", "\"b\":", "\"c\":", "\"sd\":", "\"gain_per_kj\":", "\"gain_upper_per_kj\":",
                          "\"below\":"})
    EXPECT_NE(first_json.find(key), std::string::npos) << key << " in " << first_json;
}

TEST(StopRule, BadInputsAreIgnored) {
  const PowerLaw curve{90, 12, 0.6};
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  StopRule clean(options(2.0, 3));
  StopRule noisy(options(2.0, 3));
  EXPECT_TRUE(noisy.observe(0, 0.5).ignored);
  EXPECT_TRUE(noisy.observe(-100, 0.5).ignored);
  EXPECT_EQ(noisy.predict_accuracy(1000), 0);  // nothing observed yet
  for (int k = 1; k <= 30; ++k) {
    const double e = k * 500.0, acc = curve.acc(k * 0.5) / 100;
    const StopCheck expected = clean.observe(e, acc);
    for (auto [bad_e, bad_acc] : {std::pair{nan, acc}, {e, nan}, {inf, acc}, {e, inf}, {-e, acc}, {e, 1.5},
                                  {e, -0.1}, {(k - 1) * 500.0, acc}}) {
      const StopCheck check = noisy.observe(bad_e, bad_acc);
      EXPECT_TRUE(check.ignored);
      EXPECT_FALSE(check.stop);
      EXPECT_EQ(check.evaluations, k - 1);
    }
    const StopCheck got = noisy.observe(e, acc);
    EXPECT_FALSE(got.ignored);
    EXPECT_EQ(got.evaluations, k);
    EXPECT_EQ(got.stop, expected.stop);
    EXPECT_EQ(got.below, expected.below);
    EXPECT_EQ(got.gain_upper_per_kj, expected.gain_upper_per_kj);
    EXPECT_TRUE(noisy.observe(e, acc).ignored);  // same energy again
    if (got.stop) return;
  }
  FAIL() << "the clean trace never stopped";
}

// A 20-epoch-like trace: 85.6% after epoch 1 (0.14 kJ), saturating towards 90%, two evaluations per
// epoch (40 in all, 2.8 kJ). At 1 point/kJ the rule stops well before half the energy and loses
// at most 0.5 points against the last evaluation of the trace (noise-free and with σ = 0.15 points,
// about the sampling sd of a 10k test set at 90% is 0.3). Prints the stop point per threshold.
TEST(StopRule, TwentyEpochTraceStopsWellBeforeHalfItsEnergy) {
  const PowerLaw curve{90, (90 - 85.6) * 0.14, 1.0};
  const double step = 0.07, total = 40 * step;
  auto run = [&](double threshold, double sigma, uint64_t seed) {
    StopRule rule(options(threshold, 3));
    CounterRng rng(seed, 0, 0, RngStream::test);
    const int k = stop_index(rule, [&](double e) { return curve.acc(e) + sigma * rng.normal(); }, step, 40);
    return k == 0 ? 40 : k;
  };
  const int k = run(1.0, 0, 1);
  EXPECT_LT(k * step, 0.4 * total);
  EXPECT_LE(curve.acc(total) - curve.acc(k * step), 0.5);
  std::vector<double> fractions;
  for (uint64_t seed = 1; seed <= 11; ++seed) {
    const int noisy = run(1.0, 0.15, seed);
    EXPECT_LT(noisy, 40) << "seed " << seed << " never stopped";
    EXPECT_LE(curve.acc(total) - curve.acc(noisy * step), 0.5) << "seed " << seed;
    fractions.push_back(noisy * step / total);
  }
  std::sort(fractions.begin(), fractions.end());
  EXPECT_LT(fractions[fractions.size() / 2], 0.6);  // median: the noise delays the stop, within reason

  std::printf("threshold (points/kJ) | stop at (fraction of energy), loss (points): noise-free | sigma 0.15, median of 11\n");
  for (double threshold : {0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0}) {
    const int clean = run(threshold, 0, 1);
    std::vector<int> noisy;
    for (uint64_t seed = 1; seed <= 11; ++seed) noisy.push_back(run(threshold, 0.15, seed));
    std::sort(noisy.begin(), noisy.end());
    const int median = noisy[noisy.size() / 2];
    std::printf("  %5.2f | %.2f, %.2f | %.2f, %.2f (worst loss %.2f)\n", threshold, clean * step / total,
                curve.acc(total) - curve.acc(clean * step), median * step / total,
                curve.acc(total) - curve.acc(median * step), curve.acc(total) - curve.acc(noisy.front() * step));
  }
}

}  // namespace
}  // namespace joule::energy
