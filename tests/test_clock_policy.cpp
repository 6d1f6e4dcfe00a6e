// The per-rank clock policy (energy/clock_policy.h) on synthetic traces: the t = c0 + c1/f fit and
// its prior, the straggler rule (a waiting rank gets the lowest clock that still arrives in time),
// the interval, snapping and bounds, no slack, max_slowdown, raising a late rank, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "energy/clock_policy.h"
#include "tests/support/expect_error.h"

namespace joule::energy {
namespace {

using joule::testing::expect_invalid_input;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// An H200-like SM clock table: 345..1980 MHz in 15 MHz steps.
std::vector<uint32_t> supported_clocks() {
  std::vector<uint32_t> clocks;
  for (uint32_t f = 345; f <= 1980; f += 15) clocks.push_back(f);
  return clocks;
}

ClockPolicyOptions h200_options() {
  ClockPolicyOptions o;
  o.min_mhz = 345;
  o.max_mhz = 1980;
  o.supported_mhz = supported_clocks();
  return o;
}

// The next supported clock below f (0 if none).
uint32_t next_lower(const ClockPolicy& policy, uint32_t f) {
  uint32_t below = 0;
  for (uint32_t c : policy.candidates())
    if (c < f) below = c;
  return below;
}

RankTiming timing(uint32_t clock, double compute_ms, double wait_ms) {
  return {clock, compute_ms * 1e-3, wait_ms * 1e-3};
}

TEST(ClockTimeModel, FitRecoversExactCurve) {
  const double c0 = 0.012, c1 = 40.0;  // s, s·MHz: 32.2 ms at 1980 MHz
  ClockTimeModel model;
  for (uint32_t f : {900u, 1200u, 1500u, 1980u}) model.observe(f, c0 + c1 / f);
  EXPECT_EQ(model.distinct_clocks(), 4);
  EXPECT_NEAR(model.c0(), c0, 0.01 * c0);
  EXPECT_NEAR(model.c1(), c1, 0.01 * c1);
  for (uint32_t f : {700u, 1100u, 1700u}) EXPECT_NEAR(model.predict(f), c0 + c1 / f, 0.01 * (c0 + c1 / f)) << f;
}

TEST(ClockTimeModel, PriorWithOneClockIsFullyClockBound) {
  ClockTimeModel model;
  EXPECT_EQ(model.predict(1000), 0.0);
  model.observe(1980, 0.029);
  model.observe(1980, 0.031);
  EXPECT_EQ(model.distinct_clocks(), 1);
  EXPECT_EQ(model.c0(), 0.0);
  EXPECT_NEAR(model.c1(), 0.030 * 1980, 1e-9);
  EXPECT_NEAR(model.predict(990), 0.060, 1e-12);  // half the clock, twice the time
  model.reset();
  EXPECT_EQ(model.distinct_clocks(), 0);
  EXPECT_EQ(model.predict(990), 0.0);
}

TEST(ClockTimeModel, UnphysicalFitFallsBackToThePriorThroughTheOrigin) {
  // Slower than 1/f at the lower clock: a free fit would give c0 < 0.
  ClockTimeModel model;
  model.observe(1980, 0.030);
  model.observe(1440, 0.050);
  const double x1 = 1.0 / 1980, x2 = 1.0 / 1440;
  EXPECT_EQ(model.c0(), 0.0);
  EXPECT_NEAR(model.c1(), (x1 * 0.030 + x2 * 0.050) / (x1 * x1 + x2 * x2), 1e-9);
  EXPECT_GT(model.predict(1000), model.predict(1440));
}

TEST(ClockTimeModel, ClocksTooCloseKeepThePrior) {
  // 15 MHz apart and equal within noise: a free fit would call the rank clock-insensitive.
  ClockTimeModel model;
  model.observe(1980, 0.030);
  model.observe(1965, 0.030);
  EXPECT_EQ(model.distinct_clocks(), 2);
  EXPECT_EQ(model.c0(), 0.0);
  EXPECT_NEAR(model.predict(990), 2 * model.predict(1980), 1e-12);
}

// Published: A100-SXM4-80GB, GPT-3 175B stage 1 backward, Perseus (SOSP'24) profile, copied in
// ../shared/reference/gpu-clock-profiles/freq_A100_SXM_perseus_stage_profile.csv (MHz, s).
TEST(ClockTimeModel, FitsPublishedA100ProfileWithinOnePercentRms) {
  const std::vector<std::pair<uint32_t, double>> profile = {
      {1410, 0.0929538}, {1395, 0.0930961}, {1380, 0.0931372}, {1365, 0.0934657}, {1350, 0.0938463}, {1335, 0.0944548},
      {1320, 0.0952875}, {1305, 0.0959961}, {1290, 0.0970046}, {1275, 0.0978187}, {1260, 0.0987911}, {1245, 0.0997563},
      {1230, 0.100761},  {1215, 0.101828},  {1200, 0.102971},  {1185, 0.104077},  {1170, 0.105261},  {1155, 0.106489},
      {1140, 0.107821},  {1125, 0.108866},  {1110, 0.110144},  {1095, 0.111563},  {1080, 0.11309},   {1065, 0.114375},
      {1050, 0.115908},  {1035, 0.117525},  {1020, 0.119198},  {1005, 0.120915},  {990, 0.12267},    {975, 0.124509},
      {960, 0.125968},   {945, 0.128345},   {930, 0.129907},   {915, 0.131524},   {900, 0.133225},   {885, 0.136895},
      {870, 0.138708},   {855, 0.140568}};
  ClockTimeModel model;
  for (const auto& [f, t] : profile) model.observe(f, t);
  double sum_sq = 0;
  for (const auto& [f, t] : profile) sum_sq += std::pow(model.predict(f) / t - 1, 2);
  EXPECT_LE(std::sqrt(sum_sq / profile.size()), 0.01);
  EXPECT_GT(model.c0(), 0.0);  // not purely clock-bound
}

// Acceptance (issue 10): the straggler rule gives a waiting rank a lower clock whose predicted
// compute time does not exceed the slowest rank's.
TEST(ClockPolicy, StragglerRuleGivesWaitingRankLowestClockThatArrivesInTime) {
  ClockPolicy policy(h200_options(), 2);
  const ClockDecision d = policy.observe(0, {timing(1980, 43.8, 0.4), timing(1980, 30.0, 14.2)});
  ASSERT_TRUE(d.changed);
  ASSERT_EQ(d.clock_mhz.size(), 2u);
  EXPECT_EQ(d.clock_mhz[0], 1980u);
  const uint32_t f1 = d.clock_mhz[1];
  EXPECT_LT(f1, 1980u);
  const double bound = 0.95 * 0.0438;
  EXPECT_LE(0.030 * 1980 / f1, bound);  // the 1/f prior, computed here
  EXPECT_LE(policy.model(1).predict(f1), 0.95 * policy.model(0).predict(d.clock_mhz[0]));
  const uint32_t below = next_lower(policy, f1);
  ASSERT_GT(below, 0u);
  EXPECT_GT(0.030 * 1980 / below, bound);  // the lowest clock that fits
  EXPECT_EQ(policy.clocks(), d.clock_mhz);
  EXPECT_TRUE(contains(d.reason, "rank 1 waits 32% of the step: 1980 \u2192 " + std::to_string(f1) + " MHz"))
      << d.reason;
  EXPECT_TRUE(contains(d.detail_json, "\"pace_rank\":0")) << d.detail_json;
  EXPECT_TRUE(contains(d.detail_json, "\"next\":" + std::to_string(f1))) << d.detail_json;
}

TEST(ClockPolicy, NoLoweringInsideMinInterval) {
  ClockPolicyOptions o = h200_options();
  o.min_interval_s = 5;
  ClockPolicy policy(o, 2);
  const uint32_t f1 = policy.observe(0, {timing(1980, 43.8, 0.4), timing(1980, 30.0, 14.2)}).clock_mhz[1];
  // Faster than predicted at f1, still waiting: the refitted model would go lower, but not yet.
  const std::vector<RankTiming> window = {timing(1980, 43.8, 0.4), timing(f1, 35.0, 9.2)};
  const ClockDecision held = policy.observe(1, window);
  EXPECT_FALSE(held.changed) << held.reason;
  EXPECT_EQ(held.clock_mhz[1], f1);
  EXPECT_TRUE(contains(held.reason, "interval")) << held.reason;
  const ClockDecision still = policy.observe(4.5, window);
  EXPECT_FALSE(still.changed) << still.reason;
  const ClockDecision lowered = policy.observe(5, window);
  ASSERT_TRUE(lowered.changed) << lowered.reason;
  EXPECT_LT(lowered.clock_mhz[1], f1);
  EXPECT_LE(policy.model(1).predict(lowered.clock_mhz[1]), 0.95 * policy.model(0).predict(1980));
}

TEST(ClockPolicy, SnapsToSupportedClocksWithinBounds) {
  ClockPolicyOptions o = h200_options();
  o.min_mhz = 905;   // between 900 and 915
  o.max_mhz = 1790;  // between 1785 and 1800
  ClockPolicy policy(o, 2);
  EXPECT_EQ(policy.lowest_mhz(), 915u);
  EXPECT_EQ(policy.highest_mhz(), 1785u);
  EXPECT_EQ(policy.clocks(), (std::vector<uint32_t>{1785, 1785}));
  // Rank 1 is so fast that the clock that fits lies below the bound. The cards ran at boost 1980.
  const ClockDecision d = policy.observe(0, {timing(1980, 43.8, 0.4), timing(1980, 5.0, 39.2)});
  ASSERT_TRUE(d.changed);
  EXPECT_EQ(d.clock_mhz[0], 1785u);
  EXPECT_EQ(d.clock_mhz[1], 915u);
  for (uint32_t f : d.clock_mhz) EXPECT_EQ(policy.snap(f), f);
  EXPECT_EQ(policy.snap(100), 915u);
  EXPECT_EQ(policy.snap(5000), 1785u);
  EXPECT_EQ(policy.snap(1000), 1005u);  // 990 and 1005: the nearer
  ClockPolicyOptions pair;
  pair.min_mhz = 1000;
  pair.max_mhz = 1010;
  pair.supported_mhz = {990, 1000, 1010, 1020};
  EXPECT_EQ(ClockPolicy(pair, 1).snap(1005), 1000u);  // a tie: the lower one

  // No table: any integer MHz in [min, max].
  ClockPolicyOptions any;
  any.min_mhz = 800;
  any.max_mhz = 1980;
  ClockPolicy free_policy(any, 2);
  const uint32_t f = free_policy.observe(0, {timing(1980, 43.8, 0.4), timing(1980, 30.0, 14.2)}).clock_mhz[1];
  const double bound = 0.95 * 0.0438;
  EXPECT_LE(0.030 * 1980 / f, bound);
  EXPECT_GT(0.030 * 1980 / (f - 1), bound);
  EXPECT_EQ(free_policy.snap(500), 800u);
}

TEST(ClockPolicy, RejectsBadOptionsNamingTheField) {
  ClockPolicyOptions o = h200_options();
  o.min_mhz = 1500;
  o.max_mhz = 1400;
  expect_invalid_input([&] { ClockPolicy(o, 2); }, "clocks.min_mhz");
  o = h200_options();
  o.max_slowdown = 0.9;
  expect_invalid_input([&] { ClockPolicy(o, 2); }, "max_slowdown");
  o = h200_options();
  o.margin = 1;
  expect_invalid_input([&] { ClockPolicy(o, 2); }, "clocks.margin");
  o = h200_options();
  o.min_mhz = 2000;
  o.max_mhz = 2100;
  expect_invalid_input([&] { ClockPolicy(o, 2); }, "supported clocks");
  expect_invalid_input([&] { ClockPolicy(h200_options(), 0); }, "ranks");
  ClockPolicy policy(h200_options(), 2);
  expect_invalid_input([&] { policy.observe(0, {timing(1980, 40, 0)}); }, "rank timings");
  policy.observe(3, {timing(1980, 40, 0), timing(1980, 40, 0)});
  expect_invalid_input([&] { policy.observe(2, {timing(1980, 40, 0), timing(1980, 40, 0)}); }, "now_s");
}

TEST(ClockPolicy, NoSlackNoChange) {
  ClockPolicy policy(h200_options(), 2);
  // Nearly balanced: even max clock leaves rank 1 within the margin of the pace.
  ClockDecision d = policy.observe(0, {timing(1980, 40.0, 0.2), timing(1980, 39.5, 0.7)});
  EXPECT_FALSE(d.changed) << d.reason;
  EXPECT_EQ(d.clock_mhz, (std::vector<uint32_t>{1980, 1980}));
  EXPECT_TRUE(contains(d.reason, "no change")) << d.reason;
  // The model says rank 1 could go lower, but it waits only 4% of its step (< 5%): it stays.
  ClockPolicy second(h200_options(), 2);
  d = second.observe(0, {timing(1980, 40.0, 0.2), timing(1980, 36.0, 1.5)});
  ASSERT_GT(second.lowest_fitting(1, 0.95 * 0.040), 0u);
  EXPECT_LT(second.lowest_fitting(1, 0.95 * 0.040), 1980u);
  EXPECT_FALSE(d.changed) << d.reason;
  EXPECT_EQ(d.clock_mhz, (std::vector<uint32_t>{1980, 1980}));
  EXPECT_TRUE(contains(d.reason, "rank 1 waits 4% < 5%")) << d.reason;
  EXPECT_TRUE(contains(d.detail_json, "\"held\":\"no_slack\"")) << d.detail_json;
}

TEST(ClockPolicy, MaxSlowdownLowersAllRanksTogetherWithinTheBound) {
  ClockPolicyOptions o = h200_options();
  o.max_slowdown = 1.10;
  ClockPolicy policy(o, 2);
  // Balanced: rank 1 waits 1% (no slack of its own); it follows the pace rank down.
  const std::vector<RankTiming> window = {timing(1980, 40.0, 0.1), timing(1980, 39.5, 0.6)};
  const ClockDecision d = policy.observe(0, window);
  ASSERT_TRUE(d.changed) << d.reason;
  EXPECT_LT(d.clock_mhz[0], 1980u);
  EXPECT_LT(d.clock_mhz[1], 1980u);
  const double at_max = std::max(0.040, 0.0395);
  const double step = std::max(0.040 * 1980 / d.clock_mhz[0], 0.0395 * 1980 / d.clock_mhz[1]);
  EXPECT_LE(step, 1.10 * at_max);
  EXPECT_GT(0.040 * 1980 / next_lower(policy, d.clock_mhz[0]), 1.10 * at_max);  // as low as the bound allows
  // rank 1 is within the margin of the pace at max clocks (39.5 ≥ 0.95·40): it has no slack of its
  // own, so it goes down to the pace's time, not below it, and no lower than that allows
  EXPECT_LE(0.0395 * 1980 / d.clock_mhz[1], 0.040 * 1980 / d.clock_mhz[0]);
  EXPECT_GT(0.0395 * 1980 / next_lower(policy, d.clock_mhz[1]), 0.040 * 1980 / d.clock_mhz[0]);
  EXPECT_TRUE(contains(d.reason, "follows the pace down")) << d.reason;
  // The same window without max_slowdown changes nothing.
  ClockPolicy strict(h200_options(), 2);
  EXPECT_FALSE(strict.observe(0, window).changed);
}

// Identical ranks with ±1% noise per window under max_slowdown 1.05 (margin 0.05, so (1 − margin)
// of the pace's time is below any rank's time at max clocks): they go down together and stay there,
// instead of one rank going down, measuring late against another and coming back each window.
TEST(ClockPolicy, UniformRanksGoDownTogetherUnderMaxSlowdownAndStay) {
  ClockPolicyOptions o = h200_options();
  o.max_slowdown = 1.05;
  ClockPolicy policy(o, 4);
  uint64_t state = 777;
  auto noise = [&] {  // deterministic LCG, uniform in [-0.01, 0.01]
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return ((state >> 11) * (1.0 / 9007199254740992.0) - 0.5) * 0.02;
  };
  int changes_late = 0;
  for (int w = 0; w < 40; ++w) {
    std::vector<double> compute(4);
    double slowest = 0;
    for (size_t i = 0; i < 4; ++i) {
      compute[i] = (0.004 + 60.0 / policy.clocks()[i]) * (1 + noise());  // the same curve on every rank
      slowest = std::max(slowest, compute[i]);
    }
    std::vector<RankTiming> ranks;
    for (size_t i = 0; i < 4; ++i) ranks.push_back({policy.clocks()[i], compute[i], slowest - compute[i] + 0.0002});
    const ClockDecision d = policy.observe(2.0 * w, ranks);
    if (w >= 20 && d.changed) ++changes_late;
  }
  const double at_max = 0.004 + 60.0 / 1980;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_LT(policy.clocks()[i], 1980u) << "rank " << i;
    EXPECT_LE(0.004 + 60.0 / policy.clocks()[i], 1.05 * at_max) << "rank " << i;
  }
  EXPECT_LE(changes_late, 2) << "clock changes in the last 20 windows";
}

TEST(ClockPolicy, RankThatTurnsIntoTheStragglerIsRaised) {
  ClockPolicy policy(h200_options(), 2);  // min_interval_s = 5: raising ignores it
  const uint32_t f1 = policy.observe(0, {timing(1980, 43.8, 0.4), timing(1980, 30.0, 14.2)}).clock_mhz[1];
  ASSERT_LT(f1, 1980u);
  // Measured late: rank 1 now computes longer than the pace rank, which waits for it.
  ClockPolicy late = policy;
  const ClockDecision up = late.observe(1, {timing(1980, 43.8, 6.2), timing(f1, 50.0, 0.0)});
  ASSERT_TRUE(up.changed) << up.reason;
  EXPECT_EQ(up.clock_mhz[1], 1980u);
  EXPECT_EQ(up.clock_mhz[0], 1980u);
  EXPECT_TRUE(contains(up.reason, "at once")) << up.reason;
  // Slower than predicted but not yet last: its refitted model no longer fits at f1.
  const ClockDecision fit = policy.observe(1, {timing(1980, 43.8, 0.4), timing(f1, 42.5, 1.3)});
  ASSERT_TRUE(fit.changed) << fit.reason;
  EXPECT_GT(fit.clock_mhz[1], f1);
  EXPECT_GT(policy.model(1).predict(f1), 0.95 * policy.model(0).predict(1980));
  EXPECT_LE(policy.model(1).predict(fit.clock_mhz[1]), 0.95 * policy.model(0).predict(1980));
  EXPECT_TRUE(contains(fit.reason, "no longer fits")) << fit.reason;
}

// A capped GPU: set above 1800 MHz it runs at 1800 (a power cap), below at the set clock. The
// policy learns the ceiling from the measured clock, fits the curve at the clocks actually run,
// and predicts every clock above the ceiling as the ceiling.
TEST(ClockPolicy, MeasuredClockBelowTheSetOneIsLearnedAsACeiling) {
  ClockPolicy policy(h200_options(), 2);
  auto ran = [](uint32_t set) { return std::min<uint32_t>(set, 1800); };
  auto truth = [&](uint32_t set) { return 0.010 + 54.0 / ran(set); };  // s per step
  // rank 1 is 10% faster and waits; rank 0 sets the pace at the (capped) top
  const ClockDecision d = policy.observe(
      0, {{1980, truth(1980), 0.0002, ran(1980)}, {1980, 0.9 * truth(1980), 0.1 * truth(1980), ran(1980)}});
  EXPECT_EQ(policy.ceiling_mhz(0), 1800u);
  EXPECT_EQ(policy.ceiling_mhz(1), 1800u);
  EXPECT_EQ(policy.model(0).highest_clock(), 1800u);  // learned where it ran, not where it was set
  EXPECT_DOUBLE_EQ(policy.predict(0, 1980), policy.predict(0, 1800));
  EXPECT_DOUBLE_EQ(policy.predict(0, 1890), policy.predict(0, 1800));
  EXPECT_LT(policy.predict(0, 1800), policy.predict(0, 1785));
  ASSERT_TRUE(d.changed) << d.reason;
  // the prior anchored at the measured 1800 MHz: rank 1's target is (1 − margin)·pace at 1800, so
  // 0.9·t·1800/f ≤ 0.95·t: f ≥ 1705.3; set at 1980 and learned at 1980 it would be ≥ 1875.8
  EXPECT_EQ(d.clock_mhz[1], 1710u) << d.reason;
  EXPECT_TRUE(contains(d.detail_json, "\"ceiling\":1800")) << d.detail_json;
  // Unmeasured (0): the set clock, no ceiling.
  ClockPolicy unmeasured(h200_options(), 1);
  unmeasured.observe(0, {{1980, 0.04, 0.0002, 0}});
  EXPECT_EQ(unmeasured.ceiling_mhz(0), 0u);
  EXPECT_EQ(unmeasured.model(0).highest_clock(), 1980u);
}

// Under max_slowdown, uniform ranks whose time is far from fully clock-bound (c0 is 40% of the
// step at the top): the prior's 1/f would stop them near the top; one probe window ≥ 10% below
// lets the fit find the clock where the step is S times the top's.
TEST(ClockPolicy, MaxSlowdownProbesOnceAndThenFitsTheCurve) {
  ClockPolicyOptions o = h200_options();
  o.max_slowdown = 1.05;
  ClockPolicy policy(o, 2);
  auto truth = [](uint32_t f) { return 0.016 + 47.52 / f; };  // 0.040 s at 1980 MHz
  const double at_max = truth(1980);
  std::vector<ClockDecision> decisions;
  for (int w = 0; w < 12; ++w) {
    const uint32_t f0 = policy.clocks()[0], f1 = policy.clocks()[1];
    decisions.push_back(policy.observe(2.0 * w, {{f0, truth(f0), 0.0002, 0}, {f1, truth(f1), 0.0002, 0}}));
  }
  // first: the probe, at most 1980/1.1 = 1800 MHz, for one window
  ASSERT_TRUE(decisions[0].changed) << decisions[0].reason;
  EXPECT_LE(decisions[0].clock_mhz[0], 1800u);
  EXPECT_TRUE(contains(decisions[0].reason, "probes")) << decisions[0].reason;
  // then the fitted curve: raised at once to the lowest clock within the bound
  ASSERT_TRUE(decisions[1].changed) << decisions[1].reason;
  EXPECT_TRUE(policy.model(0).fitted());
  EXPECT_NEAR(policy.model(0).c0(), 0.016, 1e-9);
  const uint32_t settled = policy.clocks()[0];
  EXPECT_EQ(policy.clocks()[1], settled);
  EXPECT_LE(truth(settled), 1.05 * at_max);
  EXPECT_GT(truth(next_lower(policy, settled)), 1.05 * at_max);  // as low as the bound allows
  // 47.52/f ≤ 1.05·0.040 − 0.016: f ≥ 1827.7; the prior alone would have stopped at 1980/1.05 (1890)
  EXPECT_EQ(settled, 1830u);
  for (size_t w = 2; w < decisions.size(); ++w) EXPECT_FALSE(decisions[w].changed) << w << ": " << decisions[w].reason;
}

// A lowered rank that arrives after the pace rank by less than 5% (window noise) goes one clock up
// or to its refitted target, not to the top; by more than 5% it goes to the top at once.
TEST(ClockPolicy, SlightlyLateRankGoesUpAStepNotToTheTop) {
  ClockPolicy policy(h200_options(), 2);
  const uint32_t f1 = policy.observe(0, {timing(1980, 43.8, 0.4), timing(1980, 30.0, 14.2)}).clock_mhz[1];
  ASSERT_LT(f1, 1980u);
  ClockPolicy slightly = policy;
  const ClockDecision up = slightly.observe(1, {timing(1980, 43.8, 0.4), timing(f1, 44.5, 0.0)});  // 1.6% late
  ASSERT_TRUE(up.changed) << up.reason;
  EXPECT_GT(up.clock_mhz[1], f1);
  EXPECT_LT(up.clock_mhz[1], 1980u);
  EXPECT_TRUE(contains(up.reason, "one step up or more")) << up.reason;
  const ClockDecision far = policy.observe(1, {timing(1980, 43.8, 0.4), timing(f1, 46.5, 0.0)});  // 6.2% late
  ASSERT_TRUE(far.changed) << far.reason;
  EXPECT_EQ(far.clock_mhz[1], 1980u);
  EXPECT_TRUE(contains(far.reason, "at once")) << far.reason;
}

// 64 ranks, rank 0 the straggler: 63 ranks lowered in one decision are summarised in one sentence
// with their ranges (the detail JSON keeps every rank's numbers); 8 or fewer get a sentence each.
TEST(ClockPolicy, ManyChangedRanksAreSummarisedByKind) {
  ClockPolicy policy(h200_options(), 64);
  std::vector<RankTiming> window;
  for (int i = 0; i < 64; ++i)
    window.push_back(i == 0 ? timing(1980, 44.0, 0.4) : timing(1980, 39.0 + 0.02 * i, 44.4 - 39.0 - 0.02 * i));
  const ClockDecision d = policy.observe(0, window);
  ASSERT_TRUE(d.changed);
  EXPECT_TRUE(contains(d.reason, "63 ranks wait ")) << d.reason;
  EXPECT_TRUE(contains(d.reason, "(ranks 1, 2, 3, \u2026)")) << d.reason;
  EXPECT_FALSE(contains(d.reason, "rank 17 ")) << d.reason;
  EXPECT_LT(d.reason.size(), 400u) << d.reason;
  uint32_t lo = 1980, hi = 0;
  for (int i = 1; i < 64; ++i) lo = std::min(lo, d.clock_mhz[i]), hi = std::max(hi, d.clock_mhz[i]);
  ASSERT_LT(lo, hi);
  EXPECT_TRUE(contains(d.reason, std::to_string(lo) + "\u2013" + std::to_string(hi) + " MHz")) << d.reason;
  EXPECT_TRUE(contains(d.detail_json, "{\"rank\":63,")) << "every rank in the detail";
  // the next window, the lowered ranks as fast as before (so they could go lower still): every one
  // is held for the interval, counted, not listed
  std::vector<RankTiming> next = window;
  for (int i = 1; i < 64; ++i) next[static_cast<size_t>(i)].clock_mhz = d.clock_mhz[static_cast<size_t>(i)];
  const ClockDecision held = policy.observe(1, next);
  EXPECT_TRUE(contains(held.reason, "ranks held for the 5 s interval")) << held.reason;
  EXPECT_LT(held.reason.size(), 200u) << held.reason;
  // 8 ranks: a sentence each
  ClockPolicy few(h200_options(), 9);
  const ClockDecision each = few.observe(0, std::vector<RankTiming>(window.begin(), window.begin() + 9));
  EXPECT_TRUE(contains(each.reason, "rank 8 waits ")) << each.reason;
}

// max_slowdown 1.05 holds on the measured step: two identical ranks whose steps, once below the
// top clock, run 3% past the pace rank's compute (the jitter of ranks arriving just in time). The
// policy scales its bound down until the measured step is within 1.05 × the top's, and stays below
// the top clock.
TEST(ClockPolicy, MaxSlowdownHoldsOnTheMeasuredStep) {
  ClockPolicyOptions o = h200_options();
  o.max_slowdown = 1.05;
  ClockPolicy policy(o, 2);
  auto compute = [](uint32_t f) { return 0.004 + 72.0 / f; };  // 0.04 s at 1980 MHz
  const double exposed = 0.0002;                               // the all-reduce, at any clock
  const double top_step = compute(1980) + exposed;
  double step = 0;
  std::string reasons;
  for (int w = 0; w < 60; ++w) {
    const uint32_t f0 = policy.clocks()[0], f1 = policy.clocks()[1];
    const double c0 = compute(f0), c1 = compute(f1);
    const double late = (f0 < 1980 || f1 < 1980) ? 0.03 * std::max(c0, c1) : 0;  // jitter below the top
    step = std::max(c0, c1) + late + exposed;
    const ClockDecision d = policy.observe(2.0 * w, {{f0, c0, step - c0, 0}, {f1, c1, step - c1, 0}});
    reasons += d.reason + "\n";
  }
  EXPECT_LE(step / top_step, 1.05 + 0.005) << reasons;
  EXPECT_LT(policy.clocks()[0], 1980u) << reasons;
  EXPECT_GT(step / top_step, 1.03) << "the bound is used, not given up: " << reasons;
  EXPECT_TRUE(contains(reasons, "steps measured")) << reasons;
  // the same trace without the 3% keeps the plain bound: the predicted step alone at 1.05
  ClockPolicy plain(o, 2);
  for (int w = 0; w < 20; ++w) {
    const uint32_t f0 = plain.clocks()[0], f1 = plain.clocks()[1];
    const double c0 = compute(f0), c1 = compute(f1), st = std::max(c0, c1) + exposed;
    plain.observe(2.0 * w, {{f0, c0, st - c0, 0}, {f1, c1, st - c1, 0}});
  }
  EXPECT_LE(compute(plain.clocks()[0]), 1.05 * compute(1980));
  EXPECT_GT(compute(next_lower(plain, plain.clocks()[0])), 1.05 * compute(1980));
}

// A simulated job: rank i's true compute is a_i + b_i/f with ±1% noise; the all-reduce makes every
// rank wait for the last one. Returns each window's decision.
std::vector<ClockDecision> simulate(ClockPolicy& policy, int windows, std::vector<double>* true_step_s) {
  const std::vector<double> a = {0.010, 0.006, 0.008, 0.004}, b = {60.0, 40.0, 50.0, 30.0};  // s, s·MHz
  uint64_t state = 12345;
  auto noise = [&] {  // deterministic LCG, uniform in [-0.01, 0.01]
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return ((state >> 11) * (1.0 / 9007199254740992.0) - 0.5) * 0.02;
  };
  std::vector<ClockDecision> decisions;
  for (int w = 0; w < windows; ++w) {
    std::vector<double> compute(4);
    double slowest = 0, true_slowest = 0;
    for (size_t i = 0; i < 4; ++i) {
      const double truth = a[i] + b[i] / policy.clocks()[i];
      compute[i] = truth * (1 + noise());
      slowest = std::max(slowest, compute[i]);
      true_slowest = std::max(true_slowest, truth);
    }
    if (true_step_s) true_step_s->push_back(true_slowest);
    std::vector<RankTiming> ranks;
    for (size_t i = 0; i < 4; ++i) ranks.push_back({policy.clocks()[i], compute[i], slowest - compute[i] + 0.0002});
    decisions.push_back(policy.observe(2.0 * w, ranks));
  }
  return decisions;
}

TEST(ClockPolicy, ClosedLoopKeepsThePaceAndLowersFastRanks) {
  ClockPolicy policy(h200_options(), 4);
  std::vector<double> step;
  simulate(policy, 60, &step);
  const double step_at_max = 0.010 + 60.0 / 1980;  // rank 0 is the slowest at any clock
  EXPECT_LE(step.back(), step_at_max * 1.001);
  EXPECT_EQ(policy.clocks()[0], 1980u);
  for (size_t i = 1; i < 4; ++i) EXPECT_LT(policy.clocks()[i], 1980u) << i;
  EXPECT_LT(policy.clocks()[3], policy.clocks()[1]);  // the fastest rank the lowest
}

TEST(ClockPolicy, DeterministicOnTheSameTrace) {
  ClockPolicyOptions o = h200_options();
  o.max_slowdown = 1.05;
  ClockPolicy first(o, 4), second(o, 4);
  const std::vector<ClockDecision> x = simulate(first, 40, nullptr), y = simulate(second, 40, nullptr);
  int changes = 0;
  for (size_t w = 0; w < x.size(); ++w) {
    EXPECT_EQ(x[w].clock_mhz, y[w].clock_mhz) << w;
    EXPECT_EQ(x[w].reason, y[w].reason) << w;
    EXPECT_EQ(x[w].detail_json, y[w].detail_json) << w;
    changes += x[w].changed;
  }
  EXPECT_GT(changes, 0);
}

}  // namespace
}  // namespace joule::energy
