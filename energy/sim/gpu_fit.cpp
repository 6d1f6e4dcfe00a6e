// fit_calibration and scale_calibration (method in gpu_fit.h). A curve's fit evaluates a few tens
// of thousands of (gamma, cap) candidates, so each evaluation works on preprocessed arrays with no
// allocation and no pow() per point: with a binding cap the model's power is min(s + d·u^γ, cap).
#include "energy/sim/gpu_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "energy/sim/gpu_model.h"

namespace joule::sim {
namespace {

constexpr double kGammaMin = 1, kGammaMax = 10, kGammaStep = 0.05;
constexpr double kCapLowest = 0.85;    // cap candidates from this fraction of the highest measured power
constexpr double kCapStepW = 0.5;
constexpr double kCapMargin = 0.01;    // points within 1% of a cap are "at the cap": not in the power fit
constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kTimeExponentMin = 1, kTimeExponentMax = 10;
constexpr double kTimeExponentCell = 0.5;  // the grid of p, then golden-section within one cell
constexpr int kGoldenIterations = 30;     // p, gamma, a: 0.618^30 ≈ 5e-7 of the interval
// A bend is taken only for an objective lower by more than this share and floor (the objective is a
// mean squared relative error: 1e-14 is errors of 1e-7), not for the rounding noise of a curve that
// fits exactly already.
constexpr double kImprovement = 1e-6, kObjectiveFloor = 1e-14;
constexpr size_t kCapWindow = 10;         // cap candidates either side of the best one, at the bend
constexpr double kGammaWindow = 1;        // gamma searched within ± this of the unbent fit's, at each p

struct Sample {
  double u = 0;         // f / f_max
  double power_w = 0;   // measured
  double y_time = 0;    // t / t(top of its series)
  double y_energy = 0;  // E / E(top)
  size_t top = 0;       // index of its series' top sample
};

struct Candidate {  // one curve
  double objective = kInfinity;
  double gamma = 0, cap_w = 0, static_w = 0, dynamic_w = 0, a = 0, p = 1;
  double v_cap = kInfinity, u_cap = kInfinity;  // u_cap^γ and u_cap: ∞ without a binding cap
};

// value rounded to `decimals` decimal places: the double nearest to that decimal, so that printing
// it shortest and reading it back gives the same value.
double round_to(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// Golden-section search of [low, high] for the candidate of least objective: `evaluate(x)` returns
// the candidate at x; `iterations` narrowings; the better of the last two (ties: the lower x).
template <class Evaluate>
Candidate golden_section(double low, double high, int iterations, const Evaluate& evaluate) {
  const double ratio = (std::sqrt(5.0) - 1) / 2;
  double x1 = high - ratio * (high - low), x2 = low + ratio * (high - low);
  Candidate c1 = evaluate(x1), c2 = evaluate(x2);
  for (int iteration = 0; iteration < iterations; ++iteration) {
    if (c1.objective <= c2.objective) {
      high = x2, x2 = x1, c2 = c1;
      x1 = high - ratio * (high - low);
      c1 = evaluate(x1);
    } else {
      low = x1, x1 = x2, c1 = c2;
      x2 = low + ratio * (high - low);
      c2 = evaluate(x2);
    }
  }
  return c1.objective <= c2.objective ? c1 : c2;
}

class CurveFitter {
 public:
  CurveFitter(std::vector<Sample> samples, double u_min) : u_min_(u_min), samples_(std::move(samples)), v_(samples_.size()), r_p_(samples_.size()), tau_(samples_.size()) {}

  // The best static/dynamic/a for this gamma and cap (cap 0 = none) at the time exponent p;
  // objective ∞ when refused. With require_binding, a cap that the fitted power law never reaches
  // is refused (it is "no cap").
  Candidate evaluate(double gamma, double cap_w, bool require_binding, double p = 1) {
    Candidate c;
    c.gamma = gamma;
    c.cap_w = cap_w;
    c.p = p;
    use_gamma(gamma);
    double s_ww = 0, s_wwv = 0, s_wwvv = 0, s_w = 0, s_wv = 0;
    for (size_t i = 0; i < samples_.size(); ++i) {
      if (cap_w > 0 && samples_[i].power_w >= (1 - kCapMargin) * cap_w) continue;
      const double w = 1 / samples_[i].power_w;  // relative residual: w·(s + d·v) − 1
      s_ww += w * w;
      s_wwv += w * w * v_[i];
      s_wwvv += w * w * v_[i] * v_[i];
      s_w += w;
      s_wv += w * v_[i];
    }
    const double det = s_ww * s_wwvv - s_wwv * s_wwv;
    if (!(det > 1e-12 * s_ww * s_wwvv)) return c;
    c.static_w = (s_w * s_wwvv - s_wv * s_wwv) / det;
    c.dynamic_w = (s_ww * s_wv - s_wwv * s_w) / det;
    if (c.static_w < 0 || !(c.dynamic_w > 0)) return c;
    double v_cap = kInfinity;  // u_cap^γ: the model's power is min(s + d·v, s + d·v_cap)
    if (cap_w > 0) {
      if (!(cap_w > c.static_w)) return c;
      const bool binds = c.static_w + c.dynamic_w > cap_w;
      if (require_binding && !binds) return c;
      if (binds) v_cap = (cap_w - c.static_w) / c.dynamic_w;
    }
    if (v_cap < std::pow(u_min_, gamma)) return c;  // no profiled clock could be reached
    c.v_cap = v_cap;
    c.u_cap = v_cap == kInfinity ? kInfinity : std::pow(v_cap, 1 / gamma);
    if (p != 1) {
      fit_a(c);
      return c;
    }
    // time at p = 1: y_t − 1 = a·(x − y_t·x_top), one-parameter least squares
    double num = 0, den = 0;
    for (const Sample& s : samples_) {
      const double x = 1 / std::min(s.u, c.u_cap) - 1, x_top = 1 / std::min(samples_[s.top].u, c.u_cap) - 1;
      const double z = x - s.y_time * x_top;
      num += z * (s.y_time - 1);
      den += z * z;
    }
    c.a = den > 0 ? std::clamp(num / den, 0.0, 1.0) : 0;
    c.objective = objective(c);
    return c;
  }

  void use_gamma(double gamma) {
    if (gamma == v_gamma_) return;
    for (size_t i = 0; i < samples_.size(); ++i) v_[i] = std::pow(samples_[i].u, gamma);
    v_gamma_ = gamma;
  }

  // a in [0, 1] at c's p, power law and cap by golden-section search of the objective.
  void fit_a(Candidate& c) const {
    c = golden_section(0, 1, kGoldenIterations, [&](double a) {
      Candidate at = c;
      at.a = a;
      at.objective = objective(at);
      return at;
    });
  }

  // Mean of e_t² + e_E² + e_P² (gpu_fit.h), with v_ = u^c.gamma.
  // τ = time_shape(a, p, r) = (a^p·r^p + (1 − a)^p)^(1/p) with r^p cached per (p, cap): one pow
  // per sample for an objective at p ≠ 1, none at p = 1.
  double objective(const Candidate& c) const {
    const double v_cap = c.v_cap, u_cap = c.u_cap;
    const size_t n = samples_.size();
    if (c.p == 1) {
      for (size_t i = 0; i < n; ++i) tau_[i] = c.a / std::min(samples_[i].u, u_cap) + (1 - c.a);
    } else {
      if (c.p != r_p_key_ || u_cap != r_p_cap_key_) {
        for (size_t i = 0; i < n; ++i) r_p_[i] = std::pow(1 / std::min(samples_[i].u, u_cap), c.p);
        r_p_key_ = c.p;
        r_p_cap_key_ = u_cap;
      }
      const double a_p = std::pow(c.a, c.p), rest_p = std::pow(1 - c.a, c.p), root = 1 / c.p;
      for (size_t i = 0; i < n; ++i) tau_[i] = std::pow(a_p * r_p_[i] + rest_p, root);
    }
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      const Sample& s = samples_[i];
      const double tau = tau_[i], tau_top = tau_[s.top];
      const double power = c.static_w + c.dynamic_w * std::min(v_[i], v_cap);
      const double power_top = c.static_w + c.dynamic_w * std::min(v_[s.top], v_cap);
      const double e_t = tau / tau_top / s.y_time - 1;
      const double e_e = tau / tau_top * power / power_top / s.y_energy - 1;
      const double e_p = power / s.power_w - 1;
      sum += e_t * e_t + e_e * e_e + e_p * e_p;
    }
    return sum / samples_.size();
  }

  double u_min_;  // min(f_min, lowest profiled clock) / f_max
  std::vector<Sample> samples_;
  std::vector<double> v_;  // u^γ for γ = v_gamma_
  double v_gamma_ = -1;
  mutable std::vector<double> r_p_;  // (1/min(u, u_cap))^p for p = r_p_key_, u_cap = r_p_cap_key_
  mutable double r_p_key_ = -1, r_p_cap_key_ = -1;
  mutable std::vector<double> tau_;  // scratch: each sample's τ
};

// Golden-section search of gamma in [low, high] at a fixed cap (and time exponent p): `best` or
// better.
Candidate refine_gamma(CurveFitter& fitter, double low, double high, double cap_w, bool require_binding,
                       Candidate best, double p = 1) {
  const Candidate c = golden_section(low, high, 40, [&](double gamma) {
    return fitter.evaluate(gamma, cap_w, require_binding, p);
  });
  return c.objective < best.objective ? c : best;
}

// One curve fitted to `points` (each series normalised at its own top), method in gpu_fit.h.
Candidate fit_curve(const std::vector<const ProfilePoint*>& points, double f_min, double f_max, double power_cap_w,
                    const std::string& origin) {
  using Key = std::tuple<std::string, std::string, int, std::string>;
  std::map<Key, size_t> top;
  double highest_power = 0, lowest_clock = kInfinity;
  for (size_t i = 0; i < points.size(); ++i) {
    const ProfilePoint& p = *points[i];
    highest_power = std::max(highest_power, p.power_w);
    lowest_clock = std::min(lowest_clock, p.freq_mhz);
    auto [it, inserted] = top.emplace(Key{p.gpu, p.workload, p.stage, p.phase}, i);
    if (inserted) continue;
    JOULE_CHECK(p.freq_mhz != points[it->second]->freq_mhz, origin, ": ", p.workload, " stage ", p.stage, " ",
                p.phase, " has ", p.freq_mhz, " MHz twice");
    if (p.freq_mhz > points[it->second]->freq_mhz) it->second = i;
  }
  std::vector<Sample> samples(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    const ProfilePoint& p = *points[i];
    const size_t t = top.at(Key{p.gpu, p.workload, p.stage, p.phase});
    samples[i] = {p.freq_mhz / f_max, p.power_w, p.time_s / points[t]->time_s, p.energy_j / points[t]->energy_j, t};
  }
  CurveFitter fitter(std::move(samples), std::min(f_min, lowest_clock) / f_max);

  // grid over (gamma, cap), then golden-section on gamma around the best cell
  const bool detect = power_cap_w < 0;
  std::vector<double> caps;
  if (detect) {
    caps.push_back(0);
    for (double cap = std::ceil(kCapLowest * highest_power / kCapStepW) * kCapStepW; cap <= highest_power; cap += kCapStepW)
      caps.push_back(cap);
  } else {
    caps.push_back(power_cap_w);
  }
  Candidate best;
  for (int step = 0; kGammaMin + step * kGammaStep <= kGammaMax + 1e-9; ++step)
    for (double cap : caps) {
      const Candidate c = fitter.evaluate(kGammaMin + step * kGammaStep, cap, detect && cap > 0);
      if (c.objective < best.objective) best = c;  // strict: on a tie "no cap" (first for each gamma) stays
    }
  JOULE_CHECK(best.objective < kInfinity, origin, ": no power law static_w + dynamic_w·(f/f_max)^gamma with ",
              "static_w ≥ 0, dynamic_w > 0 and gamma in [", kGammaMin, ", ", kGammaMax, "] fits these points");
  best = refine_gamma(fitter, std::max(kGammaMin, best.gamma - kGammaStep), std::min(kGammaMax, best.gamma + kGammaStep),
                      best.cap_w, detect && best.cap_w > 0, best);
  // the bend: p searched with gamma and a fitted at each p (the cap kept), then the cap again near
  // where it was, at that p
  const bool binding = detect && best.cap_w > 0;
  auto at_p = [&](double p, double cap_w, bool require_binding) {
    return refine_gamma(fitter, std::max(kGammaMin, best.gamma - kGammaWindow),
                        std::min(kGammaMax, best.gamma + kGammaWindow), cap_w, require_binding, Candidate{}, p);
  };
  Candidate bent = best;
  for (double p = kTimeExponentMin + kTimeExponentCell; p <= kTimeExponentMax + 1e-9; p += kTimeExponentCell) {
    const Candidate c = at_p(p, best.cap_w, binding);
    if (c.objective < bent.objective) bent = c;
  }
  const Candidate refined = golden_section(std::max(kTimeExponentMin, bent.p - kTimeExponentCell),
                                           std::min(kTimeExponentMax, bent.p + kTimeExponentCell), kGoldenIterations,
                                           [&](double p) { return at_p(p, best.cap_w, binding); });
  if (refined.objective < bent.objective) bent = refined;
  if (bent.p != 1 && detect && bent.cap_w > 0) {
    const size_t index = static_cast<size_t>(std::find(caps.begin(), caps.end(), bent.cap_w) - caps.begin());
    for (size_t k = 1; k < caps.size(); ++k)  // caps[0] is "no cap"
      if (k + kCapWindow >= index && k <= index + kCapWindow) {
        const Candidate c = at_p(bent.p, caps[k], true);
        if (c.objective < bent.objective) bent = c;
      }
  }
  if (bent.objective < best.objective * (1 - kImprovement) - kObjectiveFloor) best = bent;
  best.a = round_to(best.a, 4);
  best.p = round_to(best.p, 3);
  best.static_w = round_to(best.static_w, 2);
  best.dynamic_w = round_to(best.dynamic_w, 2);
  best.gamma = round_to(best.gamma, 3);
  best.cap_w = round_to(best.cap_w, 2);
  return best;
}

template <class Curve>
void set_curve(Curve* curve, const Candidate& c) {
  curve->set_time_sensitivity_a(c.a);
  curve->set_time_exponent_p(c.p);
  curve->set_static_w(c.static_w);
  curve->set_dynamic_w(c.dynamic_w);
  curve->set_gamma(c.gamma);
  curve->set_power_cap_w(c.cap_w);  // explicit for a phase too: 0 = none there, whatever the GPU's
}

}  // namespace

pb::GpuCalibration fit_calibration(const std::vector<ProfilePoint>& points, const FitOptions& options) {
  JOULE_CHECK(!options.name.empty(), "fit_calibration: the GPU's name is required");
  const std::string origin = "fit of " + options.name;
  JOULE_CHECK(!points.empty(), origin, ": no profile points (check the filter: gpu, workload, stage, phase)");
  std::set<double> clocks;
  std::set<std::string> phases;
  for (const ProfilePoint& p : points) {
    JOULE_CHECK(p.freq_mhz > 0 && p.time_s > 0 && p.energy_j > 0 && p.power_w > 0, origin, ": ", p.workload,
                " stage ", p.stage, " ", p.phase, " at ", p.freq_mhz, " MHz: clock, time, energy and power must be > 0");
    clocks.insert(p.freq_mhz);
    phases.insert(p.phase);
  }
  JOULE_CHECK(clocks.size() >= 3, origin, ": ", clocks.size(), " distinct clocks; the fit needs at least 3");
  const double f_max = options.f_max_mhz > 0 ? options.f_max_mhz : *clocks.rbegin();
  const double f_min = options.f_min_mhz > 0 ? options.f_min_mhz : *clocks.begin();
  double f_step = options.f_step_mhz;
  if (!(f_step > 0)) {
    f_step = kInfinity;
    for (auto it = std::next(clocks.begin()); it != clocks.end(); ++it) f_step = std::min(f_step, *it - *std::prev(it));
  }

  pb::GpuCalibration c;
  c.set_name(options.name);
  c.set_f_min_mhz(f_min);
  c.set_f_max_mhz(f_max);
  c.set_f_step_mhz(f_step);
  std::vector<const ProfilePoint*> all;
  for (const ProfilePoint& p : points) all.push_back(&p);
  set_curve(&c, fit_curve(all, f_min, f_max, options.power_cap_w, origin));
  if (options.per_phase && phases.size() > 1)
    for (const char* phase : {"forward", "backward"}) {
      std::vector<const ProfilePoint*> subset;
      for (const ProfilePoint& p : points)
        if (p.phase == phase) subset.push_back(&p);
      if (subset.empty()) continue;
      const Candidate curve = fit_curve(subset, f_min, f_max, options.power_cap_w, origin + " (" + phase + ")");
      set_curve(std::string(phase) == "forward" ? c.mutable_forward() : c.mutable_backward(), curve);
    }
  c.set_blocking_power_w(options.blocking_power_w);
  c.set_idle_w(options.idle_w);
  c.set_source(options.source);
  c.set_extrapolated(false);
  c.set_note(options.note);
  validate_gpu_calibration(c, origin);
  return c;
}

pb::GpuCalibration scale_calibration(const pb::GpuCalibration& shape, const ScaleOptions& options) {
  const std::string origin = "scaling of " + shape.name() + " to " + options.name;
  JOULE_CHECK(!options.name.empty(), origin, ": the GPU's name is required");
  const GpuModel shape_model(shape, origin + " (the shape)");
  JOULE_CHECK(options.f_max_mhz > 0 && options.anchor_clock_mhz >= options.f_min_mhz &&
                  options.anchor_clock_mhz <= options.f_max_mhz,
              origin, ": anchor_clock_mhz ", options.anchor_clock_mhz, " MHz is outside [f_min_mhz, f_max_mhz] = [",
              options.f_min_mhz, ", ", options.f_max_mhz, "]");
  JOULE_CHECK(options.anchor_power_w > 0, origin, ": anchor_power_w: expected a power > 0 W, got ", options.anchor_power_w);
  JOULE_CHECK(options.power_cap_w == 0 || options.anchor_power_w <= options.power_cap_w, origin, ": anchor_power_w ",
              options.anchor_power_w, " W is above power_cap_w ", options.power_cap_w, " W");
  const double u_anchor = options.anchor_clock_mhz / options.f_max_mhz;
  const double shape_power = shape_model.uncapped_power_w(u_anchor * shape.f_max_mhz());
  const double k = options.anchor_power_w / shape_power;

  pb::GpuCalibration c = shape;
  c.set_name(options.name);
  c.set_f_min_mhz(options.f_min_mhz);
  c.set_f_max_mhz(options.f_max_mhz);
  c.set_f_step_mhz(options.f_step_mhz);
  c.set_static_w(round_to(k * shape.static_w(), 2));
  c.set_dynamic_w(round_to(k * shape.dynamic_w(), 2));
  c.set_power_cap_w(options.power_cap_w);
  for (pb::PhaseCurve* phase : {c.mutable_forward(), c.mutable_backward()}) {
    phase->set_static_w(round_to(k * phase->static_w(), 2));
    phase->set_dynamic_w(round_to(k * phase->dynamic_w(), 2));
    phase->clear_power_cap_w();  // this GPU's own cap, not the shape's
  }
  if (!shape.has_forward()) c.clear_forward();
  if (!shape.has_backward()) c.clear_backward();
  c.set_blocking_power_w(round_to(k * shape.blocking_power_w(), 2));
  c.set_idle_w(options.idle_w);
  c.set_source(options.source);
  c.set_extrapolated(true);
  validate_gpu_calibration(c, origin);
  const GpuModel scaled(c, origin);
  const std::string text =
      "Not measured: the shape of " + shape.name() + " (" + shape.source() + ") on the relative clock f/f_max. " +
      "Kept: the time shapes (a and p) and the power exponents gamma (of the GPU curve and the phase curves). Multiplied by k = " + fixed(k, 4) +
      " = " + fixed(options.anchor_power_w, 1) + " W measured at " + fixed(options.anchor_clock_mhz, 0) +
      " MHz / the uncapped " + fixed(shape_power, 1) + " W of the shape at f/f_max = " + fixed(u_anchor, 4) +
      ": static_w, dynamic_w (every curve), blocking_power_w. Own values: clocks " + fixed(options.f_min_mhz, 0) + "-" +
      fixed(options.f_max_mhz, 0) + " MHz by " + fixed(options.f_step_mhz, 0) + ", power_cap_w " +
      fixed(options.power_cap_w, 1) + " W for every curve (the clock of the model at a requested f_max: " +
      fixed(scaled.effective_clock_mhz(options.f_max_mhz), 1) + " MHz; forward " +
      fixed(scaled.effective_clock_mhz(options.f_max_mhz, StepPhase::forward), 1) + ", backward " +
      fixed(scaled.effective_clock_mhz(options.f_max_mhz, StepPhase::backward), 1) + "), idle_w " + fixed(options.idle_w, 1) +
      " W. The shape was fitted for f/f_max >= " + fixed(shape.f_min_mhz() / shape.f_max_mhz(), 3) + " (" +
      fixed(shape.f_min_mhz() / shape.f_max_mhz() * options.f_max_mhz, 0) + " MHz here); below that it is extrapolated too.";
  c.set_note(options.note.empty() ? text : options.note + " " + text);
  return c;
}

}  // namespace joule::sim
