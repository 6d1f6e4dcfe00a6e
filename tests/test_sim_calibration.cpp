// The simulator's GPU calibration (energy/sim/): the committed calibrations against the published
// per-clock profiles they were fitted on (../shared/reference/gpu-clock-profiles/, SOURCES.md
// there; the tests skip when that folder is absent), the fit's transfer from GPT-3 to BLOOM, the
// power cap, the fit on synthetic profiles with known parameters, and the refusal of bad files.
//
// Errors are relative: normalised time t/t(top) and energy E/E(top), each series (gpu, workload,
// stage, phase) normalised at its own highest clock, and absolute power (gpu_model.h). The targets
// are issue 13's: 3% on the points fitted, 5% on another workload. Where the data cannot meet a
// target with one curve per GPU, the check says so on stdout ("NOT MET") and asserts a bound
// that is written next to it with the reason; every maximum is printed and recorded as a property.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <tuple>

#include "core/file_util.h"
#include "energy/sim/gpu_fit.h"
#include "energy/sim/gpu_model.h"
#include "energy/sim/profile_csv.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"
#include "tests/support/synthetic_gpu.h"

namespace joule::sim {
namespace {

using joule::testing::synthetic;

const std::string kProfiles = std::string(JOULE_REFERENCE_DIR) + "/gpu-clock-profiles/";
const std::string kCalibrations = std::string(JOULE_SOURCE_DIR) + "/energy/sim/gpus/";

#define SKIP_WITHOUT_REFERENCE()                                                                   \
  if (!std::filesystem::exists(kProfiles + "SOURCES.md"))                                          \
  GTEST_SKIP() << "no reference profiles in " << kProfiles                                         \
               << " (the shared reference folder next to the source tree)"

// One reference GPU as scripts/sim/fit_gpus.sh fits it: GPT-3, every stage and phase.
struct ReferenceGpu {
  const char* csv;
  const char* gpu;
  const char* calibration;  // file in energy/sim/gpus/
  double blocking_power_w;
};
const ReferenceGpu kA100{"freq_A100_SXM_perseus_stage_profile.csv", "A100-SXM4-80GB", "a100_sxm.pbtxt", 83.64};
const ReferenceGpu kA40{"freq_A40_perseus_stage_profile.csv", "A40-48GB", "a40.pbtxt", 70.38};

std::vector<ProfilePoint> profile(const ReferenceGpu& g, const std::string& workload) {
  ProfileFilter filter;
  filter.gpu = g.gpu;
  filter.workloads = {workload};
  return read_profile_csv(kProfiles + g.csv, filter);
}

pb::GpuCalibration fit_like_the_script(const ReferenceGpu& g, const std::vector<ProfilePoint>& points) {
  FitOptions options;
  options.name = g.gpu;
  options.power_cap_w = -1;  // detect
  options.blocking_power_w = g.blocking_power_w;
  return fit_calibration(points, options);
}

// A target (issue 13) and the bound asserted: the target itself, or a looser bound with its reason.
struct Limit {
  double target;
  double bound;
  const char* why_looser = "";
};
constexpr Limit met(double target) { return {target, target, ""}; }

std::string where(const PointError& e) {
  char text[160];
  std::snprintf(text, sizeof text, "%s stage %d %s %.0f MHz", e.point.workload.c_str(), e.point.stage,
                e.point.phase.c_str(), e.point.freq_mhz);
  return text;
}

void check(const std::string& label, double max_error, const PointError& worst, const Limit& limit) {
  const bool target_met = max_error <= limit.target;
  std::printf("[sim] %-44s max %6.2f%% at %-52s target %.0f%%: %s", label.c_str(), 100 * max_error,
              where(worst).c_str(), 100 * limit.target, target_met ? "met" : "NOT MET");
  if (limit.bound > limit.target) std::printf(" (asserted bound %.1f%%: %s)", 100 * limit.bound, limit.why_looser);
  std::printf("\n");
  ::testing::Test::RecordProperty(label + " max %", std::to_string(100 * max_error));
  EXPECT_LE(max_error, limit.bound) << label << " at " << where(worst);
}

struct Limits {
  Limit time, energy, power;
};

ErrorSummary check_all(const std::string& label, const GpuModel& model, const std::vector<ProfilePoint>& points,
                       const Limits& limits) {
  const ErrorSummary s = summarize_errors(compare_with_profile(model, points));
  EXPECT_EQ(s.points, static_cast<int>(points.size()));
  check(label + " time", s.max_time, s.worst_time, limits.time);
  check(label + " energy", s.max_energy, s.worst_energy, limits.energy);
  check(label + " power", s.max_power, s.worst_power, limits.power);
  std::printf("[sim] %-44s rms time %.2f%%, energy %.2f%%, power %.2f%%\n", label.c_str(), 100 * s.rms_time,
              100 * s.rms_energy, 100 * s.rms_power);
  return s;
}

// The largest relative difference between two workloads' own normalised curves at the same
// stage, phase and clock: how far apart the measurements are before any model is involved.
struct WorkloadGap {
  double time = 0, energy = 0;
};
WorkloadGap measured_gap(const std::vector<ProfilePoint>& a, const std::vector<ProfilePoint>& b) {
  using Key = std::tuple<int, std::string, double>;
  auto normalised = [](const std::vector<ProfilePoint>& points) {
    std::map<std::pair<int, std::string>, const ProfilePoint*> top;
    for (const auto& p : points) {
      const ProfilePoint*& t = top[{p.stage, p.phase}];
      if (t == nullptr || p.freq_mhz > t->freq_mhz) t = &p;
    }
    std::map<Key, std::pair<double, double>> curve;
    for (const auto& p : points) {
      const ProfilePoint& t = *top.at({p.stage, p.phase});
      curve[{p.stage, p.phase, p.freq_mhz}] = {p.time_s / t.time_s, p.energy_j / t.energy_j};
    }
    return curve;
  };
  const auto ca = normalised(a), cb = normalised(b);
  WorkloadGap gap;
  for (const auto& [key, value] : cb) {
    const auto it = ca.find(key);
    if (it == ca.end()) continue;
    gap.time = std::max(gap.time, std::fabs(value.first / it->second.first - 1));
    gap.energy = std::max(gap.energy, std::fabs(value.second / it->second.second - 1));
  }
  return gap;
}

// ---- (a) the committed calibrations reproduce the points they were fitted on ----------------

TEST(SimCalibration, A100ReproducesItsFittedTimeAndEnergyWithin3Percent) {
  SKIP_WITHOUT_REFERENCE();
  const GpuModel model(load_gpu_calibration(kCalibrations + kA100.calibration));
  const auto gpt3 = profile(kA100, "gpt3");
  ASSERT_FALSE(gpt3.empty());
  check_all("A100 gpt3 (fitted)", model, gpt3,
            {met(0.03), met(0.03),
             {0.03, 0.06,
              "stage 7, the last pipeline stage, draws 3-4% less power than stages 0-6 at the same clock; "
              "one power curve per GPU cannot be within 3% of both"}});
  std::vector<ProfilePoint> body;  // stages 0-6: identical rows, 7 of the pipeline's 8 GPUs
  for (const auto& p : gpt3)
    if (p.stage < 7) body.push_back(p);
  check_all("A100 gpt3 stages 0-6 (fitted)", model, body, {met(0.03), met(0.03), met(0.03)});
}

TEST(SimCalibration, A40CalibrationReproducesItsFittedPointsWithin3PercentRms) {
  SKIP_WITHOUT_REFERENCE();
  const GpuModel model(load_gpu_calibration(kCalibrations + kA40.calibration));
  const auto gpt3 = profile(kA40, "gpt3");
  ASSERT_FALSE(gpt3.empty());
  const char* noisy = "the A40 backward profile is not monotonic (SOURCES.md: noise about 3-5%): at 945-975 MHz "
                      "it is up to 6% faster than at 990-1050 MHz; a monotone curve cannot follow it within 3%";
  const ErrorSummary s = check_all("A40 gpt3 (fitted)", model, gpt3, {{0.03, 0.06, noisy}, {0.03, 0.045, noisy}, met(0.03)});
  EXPECT_LE(s.rms_time, 0.03);  // the typical point is within the target
  EXPECT_LE(s.rms_energy, 0.03);
  std::vector<ProfilePoint> forward;  // its own curve, no anomaly: every target met
  for (const auto& p : gpt3)
    if (p.phase == "forward") forward.push_back(p);
  check_all("A40 gpt3 forward (fitted)", model, forward, {met(0.03), met(0.03), met(0.03)});
}

template <class Curve>
void expect_same_curve(const Curve& committed, const Curve& fitted) {
  EXPECT_NEAR(committed.time_sensitivity_a(), fitted.time_sensitivity_a(), 1.5e-4);
  EXPECT_NEAR(committed.static_w(), fitted.static_w(), 0.015);
  EXPECT_NEAR(committed.dynamic_w(), fitted.dynamic_w(), 0.015);
  EXPECT_NEAR(committed.gamma(), fitted.gamma(), 1.5e-3);
  EXPECT_NEAR(committed.power_cap_w(), fitted.power_cap_w(), 0.015);
}

// The committed files are what the fit makes of their source today (a stale file fails here),
// to within the rounding of the written numbers.
TEST(SimCalibration, CommittedCalibrationsAreTheFitOfTheirSource) {
  SKIP_WITHOUT_REFERENCE();
  for (const ReferenceGpu& g : {kA100, kA40}) {
    SCOPED_TRACE(g.gpu);
    const pb::GpuCalibration committed = load_gpu_calibration(kCalibrations + g.calibration);
    const pb::GpuCalibration fitted = fit_like_the_script(g, profile(g, "gpt3"));
    EXPECT_EQ(committed.name(), fitted.name());
    EXPECT_EQ(committed.f_min_mhz(), fitted.f_min_mhz());
    EXPECT_EQ(committed.f_max_mhz(), fitted.f_max_mhz());
    EXPECT_EQ(committed.f_step_mhz(), fitted.f_step_mhz());
    expect_same_curve(committed, fitted);
    ASSERT_TRUE(committed.has_forward() && committed.has_backward());
    expect_same_curve(committed.forward(), fitted.forward());
    expect_same_curve(committed.backward(), fitted.backward());
    EXPECT_EQ(committed.blocking_power_w(), g.blocking_power_w);
    EXPECT_FALSE(committed.extrapolated());
  }
}

// The A40's cap is found from its flat top: near its 300 W limit (measured plateau 289-299 W),
// for the GPU's curve and each phase's.
TEST(SimCalibration, A40CapIsDetectedFromTheFlatTop) {
  SKIP_WITHOUT_REFERENCE();
  const GpuModel model(fit_like_the_script(kA40, profile(kA40, "gpt3")));
  const pb::GpuCalibration& c = model.calibration();
  for (const auto& [name, cap, phase] : {std::tuple{"any", c.power_cap_w(), StepPhase::any},
                                         std::tuple{"forward", c.forward().power_cap_w(), StepPhase::forward},
                                         std::tuple{"backward", c.backward().power_cap_w(), StepPhase::backward}}) {
    SCOPED_TRACE(name);
    std::printf("[sim] A40 detected cap (%s) %.1f W, effective clock at 1740 MHz: %.1f MHz\n", name, cap,
                model.effective_clock_mhz(1740, phase));
    EXPECT_GE(cap, 285);
    EXPECT_LE(cap, 300);
    EXPECT_LT(model.effective_clock_mhz(1740, phase), 1560);  // SOURCES.md: flat above about 1450-1560 MHz
    EXPECT_GT(model.effective_clock_mhz(1740, phase), 1400);
  }
}

// ---- (b) fitted on GPT-3 alone, the model predicts BLOOM on the same GPU ---------------------

TEST(SimCalibration, GptFitPredictsBloomTimeOnA100Within5PercentEnergyWithinTheWorkloadGap) {
  SKIP_WITHOUT_REFERENCE();
  const GpuModel model(fit_like_the_script(kA100, profile(kA100, "gpt3")));
  const auto bloom = profile(kA100, "bloom");
  ASSERT_FALSE(bloom.empty());
  const WorkloadGap gap = measured_gap(profile(kA100, "gpt3"), bloom);
  std::printf("[sim] A100 measured bloom vs gpt3 (no model): time up to %.2f%%, energy up to %.2f%%\n",
              100 * gap.time, 100 * gap.energy);
  check_all("A100 gpt3 fit -> bloom", model, bloom,
            {met(0.05),
             {0.05, 0.12, "the measured BLOOM and GPT-3 energy curves differ by up to 8% at the same clock (printed "
                          "above); a workload-independent curve cannot be within 5% of both"},
             {0.05, 0.12, "BLOOM draws up to 8% less power than GPT-3 at 1050-1150 MHz"}});
}

TEST(SimCalibration, GptFitPredictsBloomOnA40WithinTheWorkloadGap) {
  SKIP_WITHOUT_REFERENCE();
  const GpuModel model(fit_like_the_script(kA40, profile(kA40, "gpt3")));
  const auto bloom = profile(kA40, "bloom");
  ASSERT_FALSE(bloom.empty());
  const WorkloadGap gap = measured_gap(profile(kA40, "gpt3"), bloom);
  std::printf("[sim] A40 measured bloom vs gpt3 (no model): time up to %.2f%%, energy up to %.2f%%\n",
              100 * gap.time, 100 * gap.energy);
  const char* apart = "the measured BLOOM and GPT-3 curves of the A40 differ by up to 18% in time and 15% in "
                      "energy at the same clock (printed above): BLOOM is the more clock-bound";
  check_all("A40 gpt3 fit -> bloom", model, bloom,
            {{0.05, 0.18, apart},
             {0.05, 0.18, apart},
             {0.05, 0.10, "just below the cap (1380-1440 MHz) BLOOM forward draws 5-9% less power than GPT-3 "
                          "forward, which the forward curve follows"}});
}

// The H200 file is the A100 shape scaled to the H200's measured points (DESIGN.md section 5).
TEST(SimCalibration, H200IsTheA100ShapeScaledToItsMeasuredPoints) {
  const pb::GpuCalibration a100 = load_gpu_calibration(kCalibrations + kA100.calibration);
  const GpuModel h200(load_gpu_calibration(kCalibrations + "h200.pbtxt"));
  const pb::GpuCalibration& c = h200.calibration();
  EXPECT_TRUE(c.extrapolated());
  EXPECT_NE(c.note().find("k = "), std::string::npos) << c.note();
  EXPECT_EQ(c.f_min_mhz(), 345);
  EXPECT_EQ(c.f_max_mhz(), 1980);
  EXPECT_EQ(c.f_step_mhz(), 15);
  EXPECT_EQ(c.power_cap_w(), 700);
  EXPECT_EQ(c.idle_w(), 127);
  const double k = c.dynamic_w() / a100.dynamic_w();
  auto expect_scaled = [&](const auto& h200_curve, const auto& a100_curve) {
    EXPECT_EQ(h200_curve.time_sensitivity_a(), a100_curve.time_sensitivity_a());
    EXPECT_EQ(h200_curve.time_exponent_p(), a100_curve.time_exponent_p());
    EXPECT_EQ(h200_curve.gamma(), a100_curve.gamma());
    EXPECT_NEAR(h200_curve.static_w() / a100_curve.static_w(), k, 1e-4);  // one factor for every power
    EXPECT_NEAR(h200_curve.dynamic_w() / a100_curve.dynamic_w(), k, 1e-4);
  };
  expect_scaled(c, a100);
  ASSERT_TRUE(c.has_forward() && c.has_backward());
  expect_scaled(c.forward(), a100.forward());
  expect_scaled(c.backward(), a100.backward());
  EXPECT_FALSE(c.forward().has_power_cap_w());  // the H200's own 700 W, not the A100's phase caps
  EXPECT_FALSE(c.backward().has_power_cap_w());
  EXPECT_NEAR(c.blocking_power_w() / a100.blocking_power_w(), k, 1e-3);
  EXPECT_NEAR(h200.power_w(1515), 648, 0.1);  // the measured GEMM point
  EXPECT_LT(h200.effective_clock_mhz(1980), 1980);
  EXPECT_NEAR(h200.power_w(1980), 700, 1e-9);
  std::printf("[sim] H200 (extrapolated): k = %.4f, effective clock at 1980 MHz = %.1f MHz\n", k,
              h200.effective_clock_mhz(1980));
}

// ---- (c) the power cap ------------------------------------------------------------------------


TEST(GpuModel, PowerCapPullsTheClockDownToWherePowerEqualsTheCap) {
  const GpuModel capped(synthetic(300));
  const double f_cap = 2000 * std::cbrt(200.0 / 300.0);  // 100 + 300·u³ = 300
  EXPECT_NEAR(capped.effective_clock_mhz(2000), f_cap, 1e-9);
  EXPECT_LT(capped.effective_clock_mhz(1900), 1900);
  EXPECT_NEAR(capped.power_w(2000), 300, 1e-9);
  EXPECT_NEAR(capped.power_w(1900), 300, 1e-9);
  EXPECT_NEAR(capped.step_time_factor(1900), 1, 1e-12);  // flat at the top
  EXPECT_NEAR(capped.energy_factor(1900), 1, 1e-12);
  // below the cap the clock is the requested one, and time is relative to the capped top
  EXPECT_EQ(capped.effective_clock_mhz(1200), 1200);
  EXPECT_NEAR(capped.power_w(1200), 100 + 300 * std::pow(0.6, 3), 1e-9);
  EXPECT_NEAR(capped.step_time_factor(1200), (0.7 * 2000 / 1200 + 0.3) / (0.7 * 2000 / f_cap + 0.3), 1e-12);
  // the forward curve inherits the cap and reaches it at its own clock: 120 + 330·u^3.5 = 300
  const double f_cap_forward = 2000 * std::pow(180.0 / 330.0, 1 / 3.5);
  EXPECT_NEAR(capped.effective_clock_mhz(2000, StepPhase::forward), f_cap_forward, 1e-9);
  EXPECT_NEAR(capped.power_w(1990, StepPhase::forward), 300, 1e-9);
  EXPECT_NEAR(capped.step_time_factor(1990, StepPhase::forward), 1, 1e-12);

  const GpuModel uncapped(synthetic(0));
  EXPECT_EQ(uncapped.effective_clock_mhz(2000), 2000);
  EXPECT_NEAR(uncapped.power_w(2000), 400, 1e-9);
  EXPECT_NEAR(uncapped.power_w(2000, StepPhase::backward), 370, 1e-9);
  EXPECT_NEAR(uncapped.step_time_factor(1000, StepPhase::backward), 0.6 * 2 + 0.4, 1e-12);
  EXPECT_NEAR(uncapped.step_time_factor(1000), 0.7 * 2 + 0.3, 1e-12);  // any phase: the GPU's curve
  EXPECT_NEAR(uncapped.energy_factor(1000), 1.7 * (100 + 300 * 0.125) / 400, 1e-12);
  EXPECT_EQ(uncapped.effective_clock_mhz(500), 900);  // clamped to the range
  EXPECT_EQ(uncapped.effective_clock_mhz(2500), 2000);
  EXPECT_EQ(uncapped.clocks_mhz().size(), 56u);  // 2000 down to 900 by 20
}

TEST(GpuModel, TimeExponentBendsTheTimeCurveBetweenTheSumAndTheMaximumOfItsParts) {
  pb::GpuCalibration c = synthetic(0);
  c.mutable_backward()->set_time_sensitivity_a(0.45);  // the parts cross at f_max/f = 0.55/0.45
  c.mutable_backward()->set_time_exponent_p(4);
  const GpuModel bent(c);
  // ((0.45·r)^4 + 0.55^4)^(1/4), relative to the same at r = 1
  auto tau = [](double r) { return std::pow(std::pow(0.45 * r, 4) + std::pow(0.55, 4), 0.25); };
  for (double f : {1900.0, 1500.0, 1000.0})
    EXPECT_NEAR(bent.step_time_factor(f, StepPhase::backward), tau(2000 / f) / tau(1), 1e-12) << f;
  EXPECT_EQ(bent.time_exponent(StepPhase::backward), 4);
  EXPECT_EQ(bent.time_exponent(StepPhase::forward), 1);  // unset: the sum, c0 + c1/f
  // against 1/f the sum (p = 1) is a straight line; the bend is flatter near the top clock than
  // far below it (the slope per unit of f_max/f near 2000 and near 900 MHz)
  auto slope = [](const GpuModel& m, double f1, double f2) {
    return (m.step_time_factor(f2, StepPhase::backward) - m.step_time_factor(f1, StepPhase::backward)) /
           (2000 / f2 - 2000 / f1);
  };
  const GpuModel sum(synthetic(0));
  EXPECT_NEAR(slope(sum, 1980, 2000), slope(sum, 900, 920), 1e-9);
  EXPECT_GT(slope(bent, 900, 920), 2 * slope(bent, 1980, 2000));
  // a large p approaches the larger part: max(0.45·r, 0.55) / max(0.45, 0.55) at r = 2
  c.mutable_backward()->set_time_exponent_p(20);
  EXPECT_NEAR(GpuModel(c).step_time_factor(1000, StepPhase::backward), 0.9 / 0.55, 2e-3);
}

// ---- the fit on synthetic profiles whose parameters are known ---------------------------------

std::vector<ProfilePoint> synthetic_profile(const GpuModel& model) {
  std::vector<ProfilePoint> points;
  for (const char* phase : {"forward", "backward"})
    for (int stage : {0, 1})
      for (double f = 900; f <= 2000; f += 20) {
        ProfilePoint p{"synthetic", "work", stage, phase, f};
        p.time_s = (stage + 1) * 0.1 * model.step_time_factor(f, step_phase_from_name(phase));
        p.power_w = model.power_w(f, step_phase_from_name(phase));
        p.energy_j = p.time_s * p.power_w;
        points.push_back(p);
      }
  return points;
}

// The phase curves (which made the points) are recovered; the GPU's curve is a fit to both phases
// together and has no truth to compare with.
void expect_recovers(const pb::GpuCalibration& truth, const pb::GpuCalibration& fit) {
  ASSERT_TRUE(fit.has_forward() && fit.has_backward());
  const double cap = truth.power_cap_w();
  for (const auto& [t, f] : {std::pair{&truth.forward(), &fit.forward()}, std::pair{&truth.backward(), &fit.backward()}}) {
    EXPECT_NEAR(f->time_sensitivity_a(), t->time_sensitivity_a(), 2e-4);
    EXPECT_NEAR(f->time_exponent_p(), t->time_exponent_p(), 1e-9);  // on the fit's grid
    EXPECT_NEAR(f->static_w(), t->static_w(), 0.05);
    EXPECT_NEAR(f->dynamic_w(), t->dynamic_w(), 0.05);
    EXPECT_NEAR(f->gamma(), t->gamma(), 2e-3);
    EXPECT_NEAR(f->power_cap_w(), cap, 0.01);
  }
}

TEST(GpuFit, RecoversASyntheticCappedProfileAndDetectsItsCap) {
  const pb::GpuCalibration truth = synthetic(300);
  FitOptions options;
  options.name = "synthetic";
  const pb::GpuCalibration fit = fit_calibration(synthetic_profile(GpuModel(truth)), options);
  expect_recovers(truth, fit);
  EXPECT_EQ(fit.f_min_mhz(), 900);
  EXPECT_EQ(fit.f_max_mhz(), 2000);
  EXPECT_EQ(fit.f_step_mhz(), 20);
  // the GPU's curve fits both phases at once (no truth): its cap is near theirs
  EXPECT_NEAR(fit.power_cap_w(), 300, 1);
}

TEST(GpuFit, FindsNoCapOnAnUncappedProfile) {
  const pb::GpuCalibration truth = synthetic(0);
  FitOptions options;
  options.name = "synthetic";
  const pb::GpuCalibration fit = fit_calibration(synthetic_profile(GpuModel(truth)), options);
  expect_recovers(truth, fit);
  EXPECT_EQ(fit.power_cap_w(), 0);
}

TEST(GpuFit, RecoversTheBendOfABentTimeCurve) {
  pb::GpuCalibration truth = synthetic(300);
  truth.mutable_forward()->set_time_exponent_p(3.5);
  truth.mutable_backward()->set_time_exponent_p(2);
  FitOptions options;
  options.name = "synthetic";
  const pb::GpuCalibration fit = fit_calibration(synthetic_profile(GpuModel(truth)), options);
  expect_recovers(truth, fit);
  // the same points fitted with c0 + c1/f only would miss them: the bend is what fits
  const GpuModel fitted(fit);
  const ErrorSummary errors = summarize_errors(compare_with_profile(fitted, synthetic_profile(GpuModel(truth))));
  EXPECT_LT(errors.max_time, 1e-3);
}

TEST(GpuFit, RefusesTooFewClocks) {
  const auto points = synthetic_profile(GpuModel(synthetic(0)));
  std::vector<ProfilePoint> two;
  for (const auto& p : points)
    if (p.freq_mhz == 2000 || p.freq_mhz == 1000) two.push_back(p);
  FitOptions options;
  options.name = "synthetic";
  testing::expect_invalid_input([&] { fit_calibration(two, options); }, {"2 distinct clocks", "at least 3"});
  testing::expect_invalid_input([&] { fit_calibration({}, options); }, "no profile points");
}

// ---- (d) bad calibration files are refused, naming the file and the field ---------------------

TEST(GpuCalibrationFile, RefusesBadFilesNamingTheField) {
  testing::TempDir dir;
  auto refused = [&](const std::string& text, const std::vector<std::string>& parts) {
    const std::string path = dir.file("bad.pbtxt");
    write_file_atomic(path, text);
    std::vector<std::string> expected = parts;
    expected.push_back(path);
    testing::expect_invalid_input([&] { load_gpu_calibration(path); }, expected);
  };
  auto text_of = [](const pb::GpuCalibration& c) {
    std::string text;
    EXPECT_TRUE(google::protobuf::TextFormat::PrintToString(c, &text));
    return text;
  };
  auto without = [&](const std::string& field) {
    pb::GpuCalibration c = synthetic(300);
    c.GetReflection()->ClearField(&c, c.GetDescriptor()->FindFieldByName(field));
    return text_of(c);
  };
  auto changed = [&](void (*change)(pb::GpuCalibration&)) {
    pb::GpuCalibration c = synthetic(300);
    change(c);
    return text_of(c);
  };
  for (const char* field : {"name", "f_min_mhz", "f_max_mhz", "f_step_mhz", "time_sensitivity_a", "static_w",
                            "dynamic_w", "gamma", "blocking_power_w"})
    refused(without(field), {field, "missing"});
  refused(changed([](pb::GpuCalibration& c) { c.set_f_min_mhz(2500); }), {"f_min_mhz", "above f_max_mhz"});
  refused(changed([](pb::GpuCalibration& c) { c.set_static_w(-5); }), {"static_w", "≥ 0"});
  refused(changed([](pb::GpuCalibration& c) { c.set_blocking_power_w(-1); }), {"blocking_power_w", "≥ 0"});
  refused(changed([](pb::GpuCalibration& c) { c.set_idle_w(-1); }), {"idle_w", "≥ 0"});
  refused(changed([](pb::GpuCalibration& c) { c.set_dynamic_w(0); }), {"dynamic_w", "> 0"});
  refused(changed([](pb::GpuCalibration& c) { c.set_gamma(-2); }), {"gamma"});
  refused(changed([](pb::GpuCalibration& c) { c.mutable_forward()->set_time_sensitivity_a(1.5); }),
          {"forward.time_sensitivity_a", "[0, 1]"});
  refused(changed([](pb::GpuCalibration& c) { c.mutable_backward()->clear_gamma(); }), {"backward.gamma", "missing"});
  refused(changed([](pb::GpuCalibration& c) { c.set_time_exponent_p(0.5); }), {"time_exponent_p", "[1, 20]"});
  refused(changed([](pb::GpuCalibration& c) { c.mutable_forward()->set_time_exponent_p(25); }),
          {"forward.time_exponent_p", "[1, 20]"});
  refused(changed([](pb::GpuCalibration& c) { c.mutable_backward()->set_power_cap_w(-3); }), {"backward.power_cap_w"});
  refused(changed([](pb::GpuCalibration& c) { c.set_power_cap_w(120); }),  // P(f_min) = 127.3 W
          {"power_cap_w", "no clock meets it"});
  refused(changed([](pb::GpuCalibration& c) { c.set_f_step_mhz(0); }), {"f_step_mhz"});
  const std::string valid = format_gpu_calibration(synthetic(300));
  refused(valid + "frequency: 3\n", {"frequency"});  // a field sim.proto does not have: the parser's error
  testing::expect_invalid_input([&] { load_gpu_calibration(dir.file("absent.pbtxt")); }, {"absent.pbtxt"});
  // and the committed files load
  for (const char* file : {"a100_sxm.pbtxt", "a40.pbtxt", "h200.pbtxt"})
    EXPECT_NO_THROW(load_gpu_calibration(kCalibrations + file)) << file;
}

TEST(GpuCalibrationFile, FormatReadsBackToTheSameCalibration) {
  const pb::GpuCalibration c = synthetic(300);
  const pb::GpuCalibration back = parse_gpu_calibration(format_gpu_calibration(c), "formatted");
  EXPECT_EQ(format_gpu_calibration(back), format_gpu_calibration(c));
  EXPECT_EQ(back.static_w(), c.static_w());
  EXPECT_EQ(back.forward().gamma(), c.forward().gamma());
}

// ---- the profile CSV reader --------------------------------------------------------------------

TEST(ProfileCsv, ReadsFiltersAndRefusesBadRows) {
  const std::string header = "gpu,workload,stage,phase,freq_mhz,time_s,energy_j,power_w\n";
  const std::string rows = "G,gpt3-x,0,forward,1410,0.05,24,480\n"
                           "G,gpt3-x,7,backward,1395,0.1,47,470\n"
                           "G,bloom-y,0,forward,1410,0.05,23,460\n"
                           "H,gpt3-x,0,forward,1410,0.05,24,480\n";
  EXPECT_EQ(parse_profile_csv(header + rows, "t.csv").size(), 4u);
  ProfileFilter filter;
  filter.gpu = "G";
  filter.workloads = {"gpt3"};
  const auto kept = parse_profile_csv(header + rows, "t.csv", filter);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].stage, 7);
  EXPECT_EQ(kept[1].phase, "backward");
  EXPECT_EQ(kept[1].freq_mhz, 1395);
  EXPECT_EQ(kept[1].power_w, 470);
  filter.stages = {7};
  EXPECT_EQ(parse_profile_csv(header + rows, "t.csv", filter).size(), 1u);

  testing::expect_invalid_input([&] { parse_profile_csv("gpu,workload,stage,phase,freq_mhz,time_s,energy_j\n", "t.csv"); },
                                {"t.csv:1", "power_w"});
  testing::expect_invalid_input([&] { parse_profile_csv(header + "G,w,0,forward,fast,0.05,24,480\n", "t.csv"); },
                                {"t.csv:2", "freq_mhz", "fast"});
  testing::expect_invalid_input([&] { parse_profile_csv(header + "G,w,0,forward,1410,0,24,480\n", "t.csv"); },
                                {"t.csv:2", "time_s", "> 0"});
  testing::expect_invalid_input([&] { parse_profile_csv(header + "G,w,0,forward\n", "t.csv"); }, {"t.csv:2", "fields"});
}

}  // namespace
}  // namespace joule::sim
