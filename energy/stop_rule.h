// StopRule: stop training when the test accuracy still to be gained per kJ of job energy is no
// longer worth it. Pure policy: a deterministic function of the (energy, accuracy) evaluations it
// was given, in order (no clocks, no randomness), so every rank reaches the same decision.
//
// Model. Test accuracy y (percent) against cumulative job energy E (kJ, all ranks) follows a
// saturating power law y = a − b·E^(−c) (b, c > 0; learning curves, Hestness et al. 2017). It is
// fitted in its Box–Cox form, which is continuous in c and also covers curves that do not saturate:
//     y = α + β·h(E/E_ref; c),   h(x; c) = (1 − x^(−c))/c   (h = ln x at c = 0),
// with c ∈ [−1, 3] (c = −1: linear in E, c = 0: logarithmic, c > 0: saturating) and β ≥ 0, so
// a = α + β/c and b = β·E_ref^c/c (b < 0 when c < 0: still rising without a ceiling). Allowing
// c ≤ 0 keeps a trace that is still rising linearly from being forced onto a concave curve that
// would underestimate its slope. E_ref is the geometric mean of the fitted energies (conditioning).
// Fit: least squares; for fixed c, α and β are linear least squares in closed form; c minimises the
// profile residual sum of squares over a grid (step 0.05), refined by golden-section search.
//
// Recent points. The fit uses the evaluations with E ≥ fit_window·E_last (default 0.5: the second
// half of the energy spent so far), at least min_evaluations of them (the latest ones), at most
// max_fit_points (the latest; the cost of an evaluation stays bounded in a long run). A pure power
// law is fitted exactly on any window; a real curve with a steep start and a long, slowly rising
// tail is judged on its tail, not on the curvature of its first epochs.
//
// Marginal gain at the last energy E_n (points per kJ):
//     g = dy/dE = β·(E_n/E_ref)^(−c−1)/E_ref   ( = b·c·E_n^(−c−1) ).
// Uncertainty (delta method): s² = RSS/(m − 3) over the m fitted points (floored at
// min_residual_sd²), Cov(α, β, c) ≈ s²·(JᵀJ)^(−1) with J the Jacobian of y over (α, β, c) at the
// fitted points, σ_g² = ∇gᵀ·Cov·∇g. Upper bound g⁺ = g + t·σ_g with t the Student-t quantile for
// m − 3 degrees of freedom at the one-sided level Φ(confidence_z) (Cornish–Fisher expansion,
// Abramowitz & Stegun 26.7.5), so few points give a wider bound. If the fit found β = 0 (not
// rising) c is not identified and σ_g comes from Var(β) at that c alone.
//
// Rule: an evaluation counts as "below" when g⁺ < min_gain_per_kj; the counter resets on any
// evaluation that is not below; the rule fires when it reaches patience. With fewer than
// min_evaluations valid evaluations there is no fit and nothing counts. Evaluations at E ≤ 0, with
// non-finite values, accuracy outside [0, 1] or energy below the previous one are ignored.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace joule::energy {

struct StopRuleOptions {
  double min_gain_per_kj = 0;   // percentage points of test accuracy per kJ of job energy; 0 = rule off
  int patience = 3;             // consecutive evaluations below the threshold before stopping
  int min_evaluations = 4;      // fewer points: no fit, never stop (at least 4 are used)
  double confidence_z = 1.0;    // the gain's upper bound = estimate + t·σ (one-sided, t → z for many points)
  double fit_window = 0.5;      // fit the evaluations with E ≥ fit_window·E_last (0 = all), 0 ≤ x < 1
  double min_residual_sd = 0;   // floor on the residual sd (points), e.g. the test set's sampling sd
  int max_fit_points = 200;     // at most the latest this many evaluations are fitted (bounded cost)
};

struct AccuracyFit {            // acc(E) = a − b·E^(−c), acc in percent, E in kJ
  bool ok = false;
  double a = 0, b = 0, c = 0;
  double residual_sd = 0;       // points (the floored s used for the uncertainty)
  int points = 0;               // evaluations in the fit window
  double alpha = 0, beta = 0;   // Box–Cox form: y = alpha + beta·h(E/e_ref_kj; c)
  double e_ref_kj = 1;
  double dof = 0;               // points − 3
  std::array<double, 9> cov{};  // row-major covariance of (alpha, beta, c), s²·(JᵀJ)^(−1)
};

struct StopCheck {
  bool stop = false;                 // fire now (patience reached)
  double gain_per_kj = 0;            // d acc/dE at the last energy, points per kJ (fit)
  double gain_upper_per_kj = 0;      // with its uncertainty
  double gain_sd_per_kj = 0;         // σ_g (delta method)
  int below = 0;                     // consecutive evaluations with gain_upper < threshold
  int evaluations = 0;               // valid evaluations seen so far
  bool ignored = false;              // this observation was invalid and changed nothing
  AccuracyFit fit;
  std::string reason;                // one sentence with the numbers
};

// Least-squares fit of acc (percent) against energy (kJ, > 0, ascending) with the model above;
// ok = false when fewer than 4 points or the energies do not spread. Exposed for tests and reports.
AccuracyFit fit_accuracy_curve(const std::vector<double>& energy_kj, const std::vector<double>& acc_pct,
                               double min_residual_sd = 0);
// Fitted accuracy (percent) at energy_kj > 0; the gain dy/dE (points per kJ) and its sd there.
double fit_accuracy_at(const AccuracyFit& fit, double energy_kj);
struct GainEstimate { double gain = 0, sd = 0; };
GainEstimate fit_gain_at(const AccuracyFit& fit, double energy_kj);
// One-sided Student-t quantile with dof degrees of freedom at the level Φ(z) (z ≥ 0, dof ≥ 1).
double student_t_quantile(double z, double dof);

class StopRule {
 public:
  explicit StopRule(StopRuleOptions options);
  // One evaluation: test accuracy (fraction 0..1) reached at cumulative job energy energy_j (joules, all ranks).
  StopCheck observe(double energy_j, double accuracy);
  double predict_accuracy(double energy_j) const;   // fitted accuracy (fraction) at energy_j; last observed if no fit
  // A new threshold (points per kJ, ≥ 0) for the evaluations from now on (a threshold per epoch's
  // energy follows the job's energy per epoch); the evaluations below it so far still count.
  void set_min_gain_per_kj(double threshold);
  const AccuracyFit& fit() const { return last_.fit; }
  const StopCheck& last_check() const { return last_; }
  // JSON object text with the fit and the last check's numbers for decision records:
  // {"ok":..,"a":..,"b":..,"c":..,"alpha":..,"beta":..,"e_ref_kj":..,"sd":..,"points":..,"gain_per_kj":..,
  //  "gain_upper_per_kj":..,"below":..}: the curve is y = alpha + beta·h(E/e_ref_kj; c) (percent, kJ)
  std::string describe_json() const;

 private:
  StopRuleOptions options_;
  std::vector<double> energy_kj_;
  std::vector<double> acc_pct_;
  int below_ = 0;
  StopCheck last_;
};

}  // namespace joule::energy
