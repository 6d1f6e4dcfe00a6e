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
  // The reference's level from its own windows; its slope from them when there are two, else from
  // the profile's windows (the same stage of training; a rising loss there clamps to flat).
  LogTrend trend = fit_log_trend(probe.reference);
  if (trend.ok && probe.reference.size() < 2) trend.slope = fit_log_trend(probe.losses).slope;
  double probe_loss = kNaN, reference_loss = kNaN;  // without losses on either side the comparison fails
  if (trend.ok && !probe.losses.empty()) {
    probe_loss = reference_loss = 0;
    for (const LossPoint& p : probe.losses) {
      probe_loss += p.loss / probe.losses.size();
      reference_loss += std::exp(trend.mean_log + trend.slope * (p.mid_s - trend.mean_t)) / probe.losses.size();
    }
  }
  // Window losses are noisy (a 1-s window at batch 128 is ~50 steps): an excess within two standard
  // errors of the difference is no evidence against the lower precision. The difference is the
  // profile's mean against the reference trend extrapolated to the profile's mean time, so its
  // variance is noise²·(1/n_probe + 1/n_ref + (t_probe − t_ref)²/Stt): the extrapolation's own
  // error grows with the gap (a transient of ≥ 1 s lies between them), against how well the windows
  // the slope came from pin it (Stt of the reference's windows, or of the profile's when the
  // reference has one window). The noise of ln loss: the reference fit's residuals (≥ 3
  // windows), else the profile's own (≥ 3: about its fit; 2: about their mean), else none.
  // (With one reference window the slope is the profile's own: two profile windows then define it
  // and say nothing of the noise, which is why such a profile runs a third window.)
  const LogTrend probe_trend = fit_log_trend(probe.losses);
  double noise = trend.residual_sd > 0 ? trend.residual_sd : probe_trend.residual_sd;
  if (!(noise > 0) && probe.losses.size() == 2 && probe_trend.ok)
    noise = std::fabs(std::log(probe.losses[0].loss) - std::log(probe.losses[1].loss)) / std::sqrt(2.0);
  const double n_probe = static_cast<double>(probe.losses.size()), n_ref = static_cast<double>(probe.reference.size());
  // (t_probe − t_ref)² / Stt of the windows the slope came from: the reference's own (≥ 2), else
  // the profile's, whose slope is carried back across the same gap to the one reference window
  double gap_term = 0;
  const double slope_stt = probe.reference.size() >= 2 ? trend.stt : probe_trend.stt;
  if (n_probe > 0 && slope_stt > 0) {
    double t_probe = 0;
    for (const LossPoint& p : probe.losses) t_probe += p.mid_s / n_probe;
    gap_term = (t_probe - trend.mean_t) * (t_probe - trend.mean_t) / slope_stt;
  }
  const double allowed =
      std::max(std::log1p(options_.loss_tolerance),
               n_probe > 0 && n_ref > 0 ? 2 * noise * std::sqrt(1 / n_probe + 1 / n_ref + gap_term) : 0.0);
  Verdict verdict;
  verdict.loss = probe_low ? probe_loss : reference_loss;
  verdict.reference_loss = probe_low ? reference_loss : probe_loss;
  verdict.ok = verdict.loss > 0 && verdict.reference_loss > 0 &&
               std::log(verdict.loss) - std::log(verdict.reference_loss) <= allowed;
  verdict.at_s = now_s;
  verdicts_[probe_low ? probe.setting.precision : reference.precision] = verdict;
}

}  // namespace joule::energy
