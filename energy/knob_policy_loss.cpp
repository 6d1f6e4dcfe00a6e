// KnobPolicy's loss comparison of a lower precision against f32 (knob_policy.h, "Precision"): the
// reference windows, the exponential-decay trend fitted to them, and the verdict at a profile's end.
#include <algorithm>
#include <cmath>
#include <limits>

#include "energy/knob_policy.h"

namespace joule::energy {
namespace {
constexpr const char* kReference = "f32";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

// The last ≤ 5 windows of the setting that ran last with a finite loss and past the warm-up (its
// steep early fall is no trend to extrapolate), oldest first; none past it: the last one.
std::vector<KnobPolicy::LossPoint> KnobPolicy::loss_reference() const {
  std::vector<LossPoint> points;
  const LossPoint* last = nullptr;
  for (size_t i = recent_.size(); i-- > 0 && recent_[i].setting == recent_.back().setting && points.size() < 5;) {
    if (!std::isfinite(recent_[i].loss)) continue;
    if (last == nullptr) last = &recent_[i];
    if (recent_[i].after_warmup) points.insert(points.begin(), recent_[i]);
  }
  if (points.empty() && last != nullptr) points.push_back(*last);
  return points;
}

namespace {
// Least-squares fit of ln loss against time: mean time, mean log loss and slope (clamped ≤ 0: the
// loss is never predicted to rise; 0 with one point). An exponential decay is never negative, however
// steep the points (a line in the loss itself extrapolated a fast early fall below zero).
struct LogTrend {
  double mean_t = 0, mean_log = 0, slope = 0;
  double residual_sd = 0;  // of ln loss about the fit (n - 2 degrees of freedom; 0 below 3 points)
  double stt = 0;          // Σ (t − mean_t)²: how well the points pin the slope
  bool ok = false;         // at least one point, every loss positive
};
template <class Points>
LogTrend fit_log_trend(const Points& points) {
  LogTrend f;
  if (points.empty()) return f;
  for (const auto& p : points)
    if (!(p.loss > 0)) return f;
  for (const auto& p : points) f.mean_t += p.mid_s / points.size(), f.mean_log += std::log(p.loss) / points.size();
  double stt = 0, stl = 0;
  for (const auto& p : points)
    stt += (p.mid_s - f.mean_t) * (p.mid_s - f.mean_t), stl += (p.mid_s - f.mean_t) * (std::log(p.loss) - f.mean_log);
  f.slope = stt > 0 ? std::min(0.0, stl / stt) : 0.0;
  f.stt = stt;
  if (points.size() >= 3) {
    double ss = 0;
    for (const auto& p : points) {
      const double r = std::log(p.loss) - (f.mean_log + f.slope * (p.mid_s - f.mean_t));
      ss += r * r;
    }
    f.residual_sd = std::sqrt(ss / static_cast<double>(points.size() - 2));
  }
  f.ok = true;
  return f;
}

struct LossComparison {
  double probe_loss = kNaN, reference_loss = kNaN;  // the profile's, and the reference's extrapolated to it
  double allowed = 0;                               // 2 standard errors of their ln difference
};

template <class Points>
bool all_variances_known(const Points& points) {
  for (const auto& p : points)
    if (!(p.var > 0) || !std::isfinite(p.var)) return false;
  return !points.empty();
}

// The reference's level from its own windows; its slope from them when there are two, else from the
// profile's windows (the same stage of training; a rising loss there clamps to flat). Every window
// counts alike; the noise of one window is estimated from the residuals (knob_policy.h).
template <class Points>
LossComparison compare_unweighted(const Points& reference, const Points& losses) {
  LossComparison c;
  LogTrend trend = fit_log_trend(reference);
  if (trend.ok && reference.size() < 2) trend.slope = fit_log_trend(losses).slope;
  if (trend.ok && !losses.empty()) {  // without losses on either side the comparison fails (NaN)
    c.probe_loss = c.reference_loss = 0;
    for (const auto& p : losses) {
      c.probe_loss += p.loss / losses.size();
      c.reference_loss += std::exp(trend.mean_log + trend.slope * (p.mid_s - trend.mean_t)) / losses.size();
    }
  }
  // The difference is the profile's mean against the reference trend extrapolated to the profile's
  // mean time, so its variance is noise²·(1/n_probe + 1/n_ref + (t_probe − t_ref)²/Stt): the
  // extrapolation's own error grows with the gap (a transient of ≥ 1 s lies between them), against
  // how well the windows the slope came from pin it (Stt of the reference's windows, or of the
  // profile's when the reference has one window). The noise of ln loss: the reference fit's
  // residuals (≥ 3 windows), else the profile's own (≥ 3: about its fit; 2: about their mean).
  // (With one reference window the slope is the profile's own: two profile windows then define it
  // and say nothing of the noise, which is why such a profile runs a third window.)
  const LogTrend probe_trend = fit_log_trend(losses);
  double noise = trend.residual_sd > 0 ? trend.residual_sd : probe_trend.residual_sd;
  if (!(noise > 0) && losses.size() == 2 && probe_trend.ok)
    noise = std::fabs(std::log(losses[0].loss) - std::log(losses[1].loss)) / std::sqrt(2.0);
  const double n_probe = static_cast<double>(losses.size()), n_ref = static_cast<double>(reference.size());
  double gap_term = 0;
  const double slope_stt = reference.size() >= 2 ? trend.stt : probe_trend.stt;
  if (n_probe > 0 && slope_stt > 0) {
    double t_probe = 0;
    for (const auto& p : losses) t_probe += p.mid_s / n_probe;
    gap_term = (t_probe - trend.mean_t) * (t_probe - trend.mean_t) / slope_stt;
  }
  if (n_probe > 0 && n_ref > 0) c.allowed = 2 * noise * std::sqrt(1 / n_probe + 1 / n_ref + gap_term);
  return c;
}

// Weighted least squares of ln loss against time, weights 1/var (each window's own error).
struct WeightedFit {
  double weight = 0, mean_t = 0, mean_log = 0, slope = 0, stt = 0;
  bool ok = false;
};
template <class Points>
WeightedFit fit_weighted(const Points& points) {
  WeightedFit f;
  for (const auto& p : points)
    if (!(p.loss > 0)) return f;
  for (const auto& p : points) f.weight += 1 / p.var;
  if (!(f.weight > 0)) return f;
  for (const auto& p : points) f.mean_t += p.mid_s / p.var / f.weight, f.mean_log += std::log(p.loss) / p.var / f.weight;
  double stl = 0;
  for (const auto& p : points) {
    const double dt = p.mid_s - f.mean_t;
    f.stt += dt * dt / p.var;
    stl += dt * (std::log(p.loss) - f.mean_log) / p.var;
  }
  f.slope = f.stt > 0 ? stl / f.stt : 0.0;
  f.ok = true;
  return f;
}

// Every window with its standard error: two parallel lines in ln loss, one level per setting and a
// common slope, by weighted least squares (the slope pooled from both sets' windows about their own
// means, clamped ≤ 0); the excess is the profile's level against the reference's line at the
// profile's mean time, SE² = φ·(1/W_p + 1/W_ref + Δt²/(S_p + S_ref)) (knob_policy.h).
template <class Points>
LossComparison compare_weighted(const Points& reference, const Points& losses) {
  LossComparison c;
  const WeightedFit ref = fit_weighted(reference), probe = fit_weighted(losses);
  if (!ref.ok || !probe.ok) return c;
  const double stt = ref.stt + probe.stt;
  const double slope = stt > 0 ? std::min(0.0, (ref.slope * ref.stt + probe.slope * probe.stt) / stt) : 0.0;
  const double gap_s = probe.mean_t - ref.mean_t;
  double chi2 = 0;
  for (const auto& p : reference) chi2 += std::pow(std::log(p.loss) - ref.mean_log - slope * (p.mid_s - ref.mean_t), 2) / p.var;
  for (const auto& p : losses) chi2 += std::pow(std::log(p.loss) - probe.mean_log - slope * (p.mid_s - probe.mean_t), 2) / p.var;
  const double dof = static_cast<double>(reference.size() + losses.size()) - 3;
  const double overdispersion = dof >= 1 ? std::max(1.0, chi2 / dof) : 1.0;
  c.probe_loss = std::exp(probe.mean_log);
  c.reference_loss = std::exp(ref.mean_log + slope * gap_s);
  c.allowed = 2 * std::sqrt(overdispersion * (1 / probe.weight + 1 / ref.weight + (stt > 0 ? gap_s * gap_s / stt : 0)));
  return c;
}
}  // namespace

// Records what the profile cost beyond the incumbent's power and, where the profile changed only the
// precision, the loss comparison: the profile's window losses against the reference setting's loss
// trend (the windows just before it) extrapolated to the same times.
void KnobPolicy::end_probe(double now_s, bool completed) {
  Probe probe = std::move(*probe_);
  probe_.reset();
  probe_excess_j_ = std::max(0.0, probe.energy_j - probe.incumbent_power_w * probe.seconds);
  // cut short: the next profile is expected to cost what this one would have over its whole length
  // (else the budget lets one window through at a time and the profiles never finish)
  if (!completed && probe.seconds > 0)
    probe_excess_j_ *= std::max(1.0, (options_.transient_s + options_.measure_s) / probe.seconds);
  if (!completed) return;
  just_profiled_ = probe.setting;
  if (!probe.reference_setting) return;
  const Setting reference = *probe.reference_setting;
  const bool probe_low = probe.setting.precision != kReference;
  if (reference.batch != probe.setting.batch || probe_low == (reference.precision != kReference)) return;
  Verdict verdict;
  verdict.weighted = all_variances_known(probe.reference) && all_variances_known(probe.losses);
  const LossComparison c = verdict.weighted ? compare_weighted(probe.reference, probe.losses)
                                            : compare_unweighted(probe.reference, probe.losses);
  const double allowed = std::max(std::log1p(options_.loss_tolerance), c.allowed);
  const double probe_loss = c.probe_loss, reference_loss = c.reference_loss;
  verdict.allowed = allowed;
  verdict.windows = probe_low ? probe.losses.size() : probe.reference.size();
  verdict.reference_windows = probe_low ? probe.reference.size() : probe.losses.size();
  verdict.loss = probe_low ? probe_loss : reference_loss;
  verdict.reference_loss = probe_low ? reference_loss : probe_loss;
  verdict.ok = verdict.loss > 0 && verdict.reference_loss > 0 &&
               std::log(verdict.loss) - std::log(verdict.reference_loss) <= allowed;
  verdict.at_s = now_s;
  verdicts_[probe_low ? probe.setting.precision : reference.precision] = verdict;
}

}  // namespace joule::energy
