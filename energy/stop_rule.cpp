// StopRule: the fit of accuracy against energy, its delta-method uncertainty and the patience
// counter (math in stop_rule.h).
#include "energy/stop_rule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"

namespace joule::energy {
namespace {

constexpr double kMinC = -1.0;
constexpr double kMaxC = 3.0;
constexpr double kGridStep = 0.05;
constexpr int kMinFitPoints = 4;  // three parameters and at least one degree of freedom

// h(x; c) = (1 − x^(−c))/c with L = ln x (h = L at c = 0), and dh/dc; series near c·L = 0.
double box_cox(double log_x, double c) {
  if (c == 0) return log_x;
  return -std::expm1(-c * log_x) / c;
}
double box_cox_dc(double log_x, double c) {
  const double u = c * log_x;
  if (std::fabs(u) < 1e-3) return log_x * log_x * (-0.5 + u / 3 - u * u / 8 + u * u * u / 30);
  const double e = std::exp(-u);
  return log_x * log_x * (u * e - (1 - e)) / (u * u);
}

struct LinearFit {
  bool ok = false;
  double alpha = 0, beta = 0, rss = 0;
};

// y = alpha + beta·h(x; c) for fixed c by least squares, beta constrained ≥ 0.
LinearFit fit_fixed_c(const std::vector<double>& log_x, const std::vector<double>& y, double c) {
  const size_t m = y.size();
  std::vector<double> h(m);
  double mean_h = 0, mean_y = 0;
  for (size_t i = 0; i < m; ++i) {
    h[i] = box_cox(log_x[i], c);
    mean_h += h[i];
    mean_y += y[i];
  }
  mean_h /= m;
  mean_y /= m;
  double s_hh = 0, s_hy = 0;
  for (size_t i = 0; i < m; ++i) {
    s_hh += (h[i] - mean_h) * (h[i] - mean_h);
    s_hy += (h[i] - mean_h) * (y[i] - mean_y);
  }
  LinearFit fit;
  if (!(s_hh > 0) || !std::isfinite(s_hh)) return fit;
  fit.ok = true;
  fit.beta = std::max(0.0, s_hy / s_hh);
  fit.alpha = mean_y - fit.beta * mean_h;
  for (size_t i = 0; i < m; ++i) {
    const double r = y[i] - fit.alpha - fit.beta * h[i];
    fit.rss += r * r;
  }
  return fit;
}

double profile_rss(const std::vector<double>& log_x, const std::vector<double>& y, double c) {
  const LinearFit fit = fit_fixed_c(log_x, y, c);
  return fit.ok ? fit.rss : std::numeric_limits<double>::infinity();
}

// Inverse of a symmetric 3×3 matrix by cofactors; false when (relatively) singular.
bool invert_3x3(const std::array<double, 9>& m, std::array<double, 9>& inv) {
  const double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  const double scale = m[0] * m[4] * m[8];
  if (!(scale > 0) || !(std::fabs(det) > 1e-12 * scale)) return false;
  inv = {c00, m[2] * m[7] - m[1] * m[8], m[1] * m[5] - m[2] * m[4],
         c01, m[0] * m[8] - m[2] * m[6], m[2] * m[3] - m[0] * m[5],
         c02, m[1] * m[6] - m[0] * m[7], m[0] * m[4] - m[1] * m[3]};
  for (double& v : inv) v /= det;
  return true;
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}

std::string significant(double v) {  // 3 significant digits, for thresholds in sentences
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", v);
  return buffer;
}

std::string fixed(double v, int digits) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, v);
  return buffer;
}

std::string describe_curve(const AccuracyFit& fit) {
  if (std::fabs(fit.c) < 1e-6)
    return "fit acc = " + fixed(fit.alpha, 1) + " + " + fixed(fit.beta, 2) + "·ln(E/" + fixed(fit.e_ref_kj, 3) + ")";
  const std::string sign = fit.b >= 0 ? " − " : " + ";
  return "fit acc = " + fixed(fit.a, 1) + sign + fixed(std::fabs(fit.b), 2) + "·E^" + (fit.c > 0 ? "−" : "") +
         fixed(std::fabs(fit.c), 2);
}

}  // namespace

double student_t_quantile(double z, double dof) {
  JOULE_ASSERT(z >= 0 && dof >= 1, "student_t_quantile: z ", z, " dof ", dof);
  // Abramowitz & Stegun 26.7.5 (Cornish–Fisher), slightly low: at dof = 1 by 1.7% (z = 1) and 12%
  // (z = 2), at dof = 2 by ≤ 0.9%, at dof ≥ 3 by ≤ 0.15% (z ≤ 2; checked against numerical quadrature).
  const double z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
  const double g1 = (z3 + z) / 4;
  const double g2 = (5 * z5 + 16 * z3 + 3 * z) / 96;
  const double g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384;
  const double g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160;
  return z + g1 / dof + g2 / (dof * dof) + g3 / (dof * dof * dof) + g4 / (dof * dof * dof * dof);
}

AccuracyFit fit_accuracy_curve(const std::vector<double>& energy_kj, const std::vector<double>& acc_pct,
                               double min_residual_sd) {
  JOULE_ASSERT(energy_kj.size() == acc_pct.size(), "fit_accuracy_curve: ", energy_kj.size(), " energies, ",
               acc_pct.size(), " accuracies");
  AccuracyFit fit;
  const size_t m = energy_kj.size();
  fit.points = static_cast<int>(m);
  if (m < static_cast<size_t>(kMinFitPoints)) return fit;
  double mean_log = 0;
  for (double e : energy_kj) {
    JOULE_ASSERT(e > 0 && std::isfinite(e), "fit_accuracy_curve: energy ", e, " kJ");
    mean_log += std::log(e);
  }
  mean_log /= m;
  fit.e_ref_kj = std::exp(mean_log);
  std::vector<double> log_x(m);
  for (size_t i = 0; i < m; ++i) log_x[i] = std::log(energy_kj[i]) - mean_log;

  // Grid over c, then golden-section search between the best grid point's neighbours.
  const int steps = static_cast<int>(std::lround((kMaxC - kMinC) / kGridStep));
  int best = -1;
  double best_rss = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= steps; ++i) {
    const double rss = profile_rss(log_x, acc_pct, kMinC + i * kGridStep);
    if (rss < best_rss) best_rss = rss, best = i;
  }
  if (best < 0) return fit;  // the energies do not spread
  double lo = kMinC + std::max(0, best - 1) * kGridStep, hi = kMinC + std::min(steps, best + 1) * kGridStep;
  const double ratio = (std::sqrt(5.0) - 1) / 2;
  double c1 = hi - ratio * (hi - lo), c2 = lo + ratio * (hi - lo);
  double f1 = profile_rss(log_x, acc_pct, c1), f2 = profile_rss(log_x, acc_pct, c2);
  for (int iteration = 0; iteration < 60; ++iteration) {
    if (f1 <= f2) {
      hi = c2, c2 = c1, f2 = f1;
      c1 = hi - ratio * (hi - lo), f1 = profile_rss(log_x, acc_pct, c1);
    } else {
      lo = c1, c1 = c2, f1 = f2;
      c2 = lo + ratio * (hi - lo), f2 = profile_rss(log_x, acc_pct, c2);
    }
  }
  double c = f1 <= f2 ? c1 : c2;
  if (std::min(f1, f2) > best_rss) c = kMinC + best * kGridStep;
  const LinearFit linear = fit_fixed_c(log_x, acc_pct, c);
  if (!linear.ok) return fit;

  fit.ok = true;
  fit.c = c;
  fit.alpha = linear.alpha;
  fit.beta = linear.beta;
  if (c != 0) {
    fit.a = linear.alpha + linear.beta / c;
    fit.b = linear.beta * std::pow(fit.e_ref_kj, c) / c;
  } else {
    fit.a = std::numeric_limits<double>::infinity();
    fit.b = std::numeric_limits<double>::infinity();
  }
  fit.dof = static_cast<double>(m) - 3;
  const double s = std::max(std::sqrt(linear.rss / fit.dof), min_residual_sd);
  fit.residual_sd = s;

  // Cov(alpha, beta, c) = s²·(JᵀJ)^(−1), J_i = (1, h_i, beta·dh/dc_i).
  std::array<double, 9> jtj{};
  double mean_h = 0, s_hh = 0;
  for (size_t i = 0; i < m; ++i) {
    const double row[3] = {1, box_cox(log_x[i], c), linear.beta * box_cox_dc(log_x[i], c)};
    for (int r = 0; r < 3; ++r)
      for (int k = 0; k < 3; ++k) jtj[r * 3 + k] += row[r] * row[k];
    mean_h += row[1];
  }
  mean_h /= m;
  for (size_t i = 0; i < m; ++i) s_hh += (box_cox(log_x[i], c) - mean_h) * (box_cox(log_x[i], c) - mean_h);
  std::array<double, 9> inv{};
  if (invert_3x3(jtj, inv)) {
    for (int k = 0; k < 9; ++k) fit.cov[k] = s * s * inv[k];
  } else {
    // beta = 0 (or nearly): c is not identified; (alpha, beta) at this c only.
    fit.cov = {};
    fit.cov[0] = s * s * (1.0 / m + mean_h * mean_h / s_hh);
    fit.cov[1] = fit.cov[3] = -s * s * mean_h / s_hh;
    fit.cov[4] = s * s / s_hh;
  }
  return fit;
}

double fit_accuracy_at(const AccuracyFit& fit, double energy_kj) {
  JOULE_ASSERT(fit.ok && energy_kj > 0, "fit_accuracy_at: fit ", fit.ok, " energy ", energy_kj, " kJ");
  return fit.alpha + fit.beta * box_cox(std::log(energy_kj / fit.e_ref_kj), fit.c);
}

GainEstimate fit_gain_at(const AccuracyFit& fit, double energy_kj) {
  JOULE_ASSERT(fit.ok && energy_kj > 0, "fit_gain_at: fit ", fit.ok, " energy ", energy_kj, " kJ");
  const double log_x = std::log(energy_kj / fit.e_ref_kj);
  const double slope = std::exp((-fit.c - 1) * log_x) / fit.e_ref_kj;  // dh/dE
  GainEstimate estimate;
  estimate.gain = fit.beta * slope;
  const double grad[3] = {0, slope, -fit.beta * log_x * slope};
  double var = 0;
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) var += grad[r] * fit.cov[r * 3 + k] * grad[k];
  estimate.sd = std::sqrt(std::max(0.0, var));
  return estimate;
}

StopRule::StopRule(StopRuleOptions options) : options_(options) {
  JOULE_CHECK(std::isfinite(options_.min_gain_per_kj) && options_.min_gain_per_kj >= 0,
              "min_gain_per_kj must be ≥ 0 (0 = off), got ", options_.min_gain_per_kj);
  JOULE_CHECK(options_.patience >= 1, "patience must be ≥ 1, got ", options_.patience);
  JOULE_CHECK(options_.min_evaluations >= 1, "min_evaluations must be ≥ 1, got ", options_.min_evaluations);
  JOULE_CHECK(options_.max_fit_points >= std::max(4, options_.min_evaluations), "max_fit_points must be ≥ max(4, min_evaluations), got ",
              options_.max_fit_points);
  JOULE_CHECK(std::isfinite(options_.confidence_z) && options_.confidence_z >= 0,
              "confidence_z must be ≥ 0, got ", options_.confidence_z);
  JOULE_CHECK(options_.fit_window >= 0 && options_.fit_window < 1, "fit_window must be in [0, 1), got ",
              options_.fit_window);
  JOULE_CHECK(std::isfinite(options_.min_residual_sd) && options_.min_residual_sd >= 0,
              "min_residual_sd must be ≥ 0, got ", options_.min_residual_sd);
  last_.reason = "no evaluation yet";
}

void StopRule::set_min_gain_per_kj(double threshold) {
  JOULE_CHECK(std::isfinite(threshold) && threshold >= 0, "min_gain_per_kj must be ≥ 0 (0 = off), got ", threshold);
  options_.min_gain_per_kj = threshold;
}

StopCheck StopRule::observe(double energy_j, double accuracy) {
  const bool valid = std::isfinite(energy_j) && std::isfinite(accuracy) && energy_j > 0 && accuracy >= 0 &&
                     accuracy <= 1 && (energy_kj_.empty() || energy_j / 1000 > energy_kj_.back());
  if (!valid) {
    StopCheck check = last_;
    check.stop = false;
    check.ignored = true;
    check.reason = "ignored evaluation (energy " + number(energy_j) + " J, accuracy " + number(accuracy) +
                   "): not finite, E ≤ 0, accuracy outside [0, 1] or energy not above the previous one";
    return check;
  }
  energy_kj_.push_back(energy_j / 1000);
  acc_pct_.push_back(accuracy * 100);
  const int n = static_cast<int>(energy_kj_.size());
  const int needed = std::max(options_.min_evaluations, kMinFitPoints);

  StopCheck check;
  check.evaluations = n;
  if (n < needed) {
    below_ = 0;
    check.reason = std::to_string(n) + " of " + std::to_string(needed) + " evaluations needed for a fit";
    last_ = check;
    return check;
  }
  // Fit window: E ≥ fit_window·E_last, at least `needed` points (the latest ones).
  const double from_kj = options_.fit_window * energy_kj_.back();
  int first = static_cast<int>(std::lower_bound(energy_kj_.begin(), energy_kj_.end(), from_kj) - energy_kj_.begin());
  first = std::min(first, n - needed);
  first = std::max(first, n - options_.max_fit_points);  // bounded cost per evaluation however long the run
  const std::vector<double> window_e(energy_kj_.begin() + first, energy_kj_.end());
  const std::vector<double> window_y(acc_pct_.begin() + first, acc_pct_.end());
  check.fit = fit_accuracy_curve(window_e, window_y, options_.min_residual_sd);
  if (!check.fit.ok) {
    below_ = 0;
    check.reason = "no fit on " + std::to_string(window_e.size()) + " evaluations";
    last_ = check;
    return check;
  }
  const GainEstimate gain = fit_gain_at(check.fit, energy_kj_.back());
  check.gain_per_kj = gain.gain;
  check.gain_sd_per_kj = gain.sd;
  check.gain_upper_per_kj = gain.gain + student_t_quantile(options_.confidence_z, check.fit.dof) * gain.sd;
  const double threshold = options_.min_gain_per_kj;
  const std::string numbers = "marginal gain " + fixed(check.gain_per_kj, 2) + " (≤ " +
                              fixed(check.gain_upper_per_kj, 2) + ") points/kJ";
  if (threshold <= 0) {
    below_ = 0;
    check.reason = numbers + ", stop rule off; " + describe_curve(check.fit);
  } else if (check.gain_upper_per_kj < threshold) {
    ++below_;
    check.stop = below_ >= options_.patience;
    check.reason = numbers + " < " + significant(threshold) + " for " + std::to_string(below_) + " evaluation" +
                   (below_ == 1 ? "" : "s") + (check.stop ? "" : " (patience " + std::to_string(options_.patience) + ")") +
                   "; " + describe_curve(check.fit);
  } else {
    below_ = 0;
    check.reason = numbers + " ≥ " + significant(threshold) + "; " + describe_curve(check.fit);
  }
  check.below = below_;
  last_ = check;
  return check;
}

double StopRule::predict_accuracy(double energy_j) const {
  if (!last_.fit.ok || !(energy_j > 0) || !std::isfinite(energy_j))
    return acc_pct_.empty() ? 0.0 : acc_pct_.back() / 100;
  return std::clamp(fit_accuracy_at(last_.fit, energy_j / 1000) / 100, 0.0, 1.0);
}

std::string StopRule::describe_json() const {
  const AccuracyFit& f = last_.fit;
  return "{\"ok\":" + std::string(f.ok ? "true" : "false") + ",\"a\":" + number(f.a) + ",\"b\":" + number(f.b) +
         ",\"c\":" + number(f.c) + ",\"alpha\":" + number(f.alpha) + ",\"beta\":" + number(f.beta) +
         ",\"e_ref_kj\":" + number(f.e_ref_kj) + ",\"sd\":" + number(f.residual_sd) + ",\"points\":" + std::to_string(f.points) +
         ",\"gain_per_kj\":" + number(last_.gain_per_kj) + ",\"gain_upper_per_kj\":" + number(last_.gain_upper_per_kj) +
         ",\"below\":" + std::to_string(last_.below) + "}";
}

}  // namespace joule::energy
