// KnobPolicy: the online choice of the global batch size and the precision from measured joules
// (issue 10, "Policy"). Pure policy: it sees closed windows (job-wide numbers, identical on every
// rank) and answers with decisions; same inputs, same decisions (no clocks, no randomness, ordered
// containers only), so every rank reaches the identical choice.
//
// Measurement. Per setting s = (batch B, precision p) the policy keeps exponentially weighted sums
// of energy, time and samples over its windows (half-life `measure_half_life_s` of training time),
// counting only windows that start after the warm-up and at least `transient_s` after the last
// knob change (the whole window is discarded otherwise): e(s) = ΣE/Σn J per sample, t(s) = ΣT/Σn s
// per sample. A setting is measured once it has ≥ `measure_s` such seconds, fresh while its last
// window is at most `stale_s` old. Nothing is ever predicted for a setting that was not measured.
//
// Objective (per statistically effective sample). With B_noise = tr Σ/|G|² the simple gradient noise
// scale (McCandlish et al., "An Empirical Model of Large-Batch Training", 2018; ops/lr_scaling.h),
// smoothed across windows (an exponentially weighted geometric mean, half-life `noise_half_life_s`
// of training time: with 2 ranks one window's value scatters by ±40% and more, and the controller
// benchmark switched 128 → 256 at 517 and back at 338 a few windows later),
// a sample at batch B is worth efficiency(B) = (B_noise + B0)/(B_noise + B) samples at the
// reference batch B0 (Pollux, Qiao et al., OSDI'21; 1 for every batch while B_noise is unknown).
// Cost (Zeus, You et al., NSDI'23): cost(s) = (η·e(s) + (1 − η)·P_max·t(s)) / efficiency(B), in J
// per effective sample (J-equivalent when η < 1; P_max = `p_max_w`, else the highest window power
// seen). Time bound: with max_slowdown = k > 0, a setting is feasible only if
// t(s)/efficiency(B) ≤ k × the smallest such time among fresh eligible settings (the incumbent
// keeps feasibility up to k·(1 + hysteresis), so noise at the bound does not flap).
//
// Search (hill climbing, one candidate at a time). After warm-up and once the incumbent is measured,
// an evaluation (i) adopts the fresh eligible feasible setting of least cost if its predicted gain
// 1 − cost(best)/cost(incumbent) ≥ `hysteresis` (or the incumbent became ineligible/infeasible);
// (ii) profiles the next candidate: a stale setting predicted better by ≥ hysteresis (refreshed
// before it may be chosen), else the incumbent's neighbours — the other precisions at its batch,
// then the adjacent entry of `batches` the noise scale favours (the larger when B_noise ≥ B or
// unknown, else the smaller) — that are unmeasured, or stale and predicted within `refresh_margin`
// of the incumbent; then the same neighbours of every fresh setting measured within the hysteresis
// of the incumbent either way (cheapest first), so that the climb goes on where each
// single step gains too little to switch but two steps gain a lot (the batch and the precision,
// each a few %, together −50%); last, the adjacent batches against the noise scale's direction.
// A profile runs whole windows until transient_s + measure_s are covered (a loss comparison whose
// windows all carry their standard error closes its last one short), then the policy evaluates again;
// a close call — a candidate gaining less than the hysteresis, or costlier by less than
// `confirm_margin` — is first measured for another measure_s (one window's machine noise must not
// decide it). Exploration
// energy = what windows run on a setting other than the incumbent cost beyond what the incumbent
// would have spent on the same samples, max(0, E_w − e(incumbent)·n_w) per window (all of E_w while
// the incumbent is unmeasured): profiling a cheaper setting costs nothing, a costlier one its
// excess. A
// profile starts only if exploration energy + estimate ≤ max_explore_fraction × job energy so far
// (estimate: what the last profile cost above the incumbent's power, at least one window of a
// candidate 1.5× as costly as the incumbent), else it waits; it is
// abandoned when a window takes exploration past the bound (so the bound is exceeded by ≤ one window).
// Evaluations run when a profile ends, at least every `reevaluate_s`, and as soon as B_noise has
// moved by `reevaluate_noise_ratio` either way since the last one: B_noise grows during training, so
// larger batches become efficient and the climb moves upward again; every cost depends on it, and
// a job shorter than reevaluate_s would otherwise never act on its growth (the controller benchmark
// measured B_noise 130-210 at its first profiles and 848 at its 30-s re-evaluation, which switched
// to batch 256 only after fixed 128 had already reached the target). Every evaluation
// sets `reason` (log it when `change`, or when it differs from the previous one).
//
// Precision. f32 is the reference. A lower precision p is eligible only after a loss comparison,
// made when a profile changes only the precision (same batch). Such a profile runs until its energy
// is measured and it has at least two windows, three when the preceding setting has one window
// past the warm-up (the slope then comes from the profile's own windows); the windows of its
// transient count for the loss (the weights carry over: only the power counters lag a change).
// Its windows' ln loss is compared with the preceding setting's ln-loss trend extrapolated to the
// same time — a line in ln loss (an exponential decay, never below zero) fitted to that setting's
// last ≤ 5 windows past the warm-up (the warm-up's steep fall is no trend; none past it: the last
// window), its slope from the profile's own windows when the reference has one point, clamped ≤ 0.
// p passes if the excess d = ln L(p) − ln L̂(f32) ≤ max(ln(1 + loss_tolerance), 2·SE(d)): an excess
// within the noise is no evidence against p (no loss on either side fails).
//   Where every window carries the standard error of its mean loss (loss_sem, from its steps'
// scatter), the two sets are fitted as parallel lines in ln loss — a level each and one common
// slope, by weighted least squares with weights 1/var(ln L) = (L/sem)², so a window of a few steps
// counts for little and the slope is pinned by every window of both sets — and SE(d)² =
// φ·(1/W_p + 1/W_f32 + Δt²/S_tt): the two levels' variances plus the slope's carried across the
// gap Δt between the sets' mean times (S_tt = Σ w (t − t̄)² about each set's own mean);
// φ = max(1, χ²/dof) widens it where the windows scatter about the lines more than their steps say
// (dof = windows − 3; φ = 1 below one).
// Without loss_sem, the windows count equally and the noise of one window is estimated from the
// residuals (the reference fit's, ≥ 3 windows, else the profile's; two profile windows: their
// difference): SE(d) = σ·√(1/n_p + 1/n_f32 + Δt²/S_tt).
// A failed p is not profiled again until the verdict is stale_s old. Without f32 among the
// candidates every precision is eligible. precision_failed(p) excludes p for good.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace joule::energy {

struct Setting {
  int64_t batch = 0;
  std::string precision = "f32";
  bool operator==(const Setting&) const = default;
  auto operator<=>(const Setting&) const = default;
};
std::string setting_name(const Setting& setting);  // "512/bf16"

struct KnobPolicyOptions {
  std::vector<int64_t> batches;        // candidate global batches, ascending; one entry = batch FIXED
  std::vector<std::string> precisions; // candidates among "f32", "bf16", "f16"; one entry = FIXED
  int64_t reference_batch = 128;       // B0 of the efficiency (train.batch_size)
  double eta = 1.0;                    // cost = η·E + (1 − η)·p_max_w·T per effective sample, η ∈ [0, 1]
  double p_max_w = 0;                  // W; 0 = the highest window power observed
  double max_slowdown = 0;             // 0 = off; else ≥ 1 (time per effective sample bound)
  double max_explore_fraction = 0.05;  // of the job energy so far, on settings other than the incumbent
  double warmup_s = 10;                // s of training before any decision or measurement (the start's transient)
  double transient_s = 1;              // s discarded after every change
  double measure_s = 2;                // s measured per candidate (after the transient)
  double hysteresis = 0.05;            // switch only for a predicted gain ≥ this
  double reevaluate_s = 30;            // s between evaluations at most
  double reevaluate_noise_ratio = 1.5; // evaluate when B_noise moved by this factor either way since the last; 0 = off
  double noise_half_life_s = 2;        // s of training time halving the weight of a window's B_noise (geometric mean)
  double loss_tolerance = 0.02;        // relative loss excess allowed for a lower precision
  double stale_s = 300;                // s after which a measurement is refreshed before it is relied on
  double refresh_margin = 0.10;        // a stale neighbour predicted within this of the incumbent is refreshed
  double confirm_margin = 0.25;        // a candidate gaining < hysteresis or costlier by < this: measure_s more
  double measure_half_life_s = 30;     // s of training time halving the weight of older windows
};

struct WindowObservation {  // one closed window, job-wide (identical on every rank)
  Setting setting;             // the knobs it ran with
  double seconds = 0;          // wall seconds of training in the window (eval excluded)
  double energy_j = 0;         // job energy of the window (all ranks), J
  double samples = 0;          // global samples trained in the window
  double since_change_s = 0;   // training seconds since the knobs last changed, at the window's start
  double noise_scale = 0;      // B_noise (samples); 0 = unknown (efficiency 1 for every batch)
  double mean_loss = 0;        // mean training loss of the window (NaN if none)
  double loss_sem = 0;         // standard error of mean_loss from its steps' scatter (LossWindow); 0 = unknown
  double job_energy_j = 0;     // cumulative job energy at the window's end, J
  double train_seconds = 0;    // cumulative training seconds at the window's end
};

struct KnobDecision {
  bool change = false;
  Setting next;              // when change
  bool switched = false;     // the chosen setting changed (also when it is the one running: no change)
  std::string reason;        // one sentence with the numbers; set whenever an evaluation ran
  std::string detail_json;   // JSON object (candidates, B_noise, gain, phase, exploration); with reason
};

struct SettingEstimate {  // what the policy measured for one setting (clean windows only)
  Setting setting;
  double j_per_sample = 0, s_per_sample = 0;  // J and s per sample (decayed sums)
  double measured_s = 0, updated_s = 0;       // clean seconds in all; training seconds at its last window
  double mean_loss = 0;                       // weighted mean training loss (NaN if none)
};

double batch_efficiency(int64_t batch, int64_t reference_batch, double noise_scale);  // Pollux
// Throws invalid input (exit 2) naming the option: empty or unordered candidates, an unknown
// precision, a start outside the candidates, eta outside [0, 1], max_slowdown in (0, 1), ...
void validate_knob_policy(const KnobPolicyOptions& options, const Setting& start);

class KnobPolicy {
 public:
  explicit KnobPolicy(KnobPolicyOptions options, Setting start);  // invalid options: exit-2 error
  KnobDecision observe(const WindowObservation& window);
  // Non-finite step in a low precision: the lead already fell back to f32 (same batch); the policy
  // excludes that precision from now on (f32 becomes a candidate if it was not).
  void precision_failed(const std::string& precision);
  // The training seconds (the clock of WindowObservation.train_seconds) at which a window should
  // end so the policy can act sooner: where the warm-up or the transient after the last change ends
  // (the next window is the first clean one), or where the measurement of the setting running now
  // is complete (a loss comparison runs whole windows). 0 = none wanted (nothing to measure). The
  // trainer closes its window at the first step boundary past it (EnergyControl::boundary_due);
  // without that, windows end every window_s and a measurement waits for the next one.
  double next_boundary_s() const;
  const Setting& incumbent() const { return incumbent_; }
  std::vector<SettingEstimate> measurements() const;  // ordered by (batch, precision)
  double explore_energy_j() const { return explore_energy_j_; }

 private:
  struct Sums { double energy_j = 0, seconds = 0, samples = 0, loss_sum = 0, loss_samples = 0, measured_s = 0,
                       updated_s = 0, explore_j = 0; };
  struct Row;  // one measured setting in an evaluation (knob_policy.cpp)
  struct Verdict {
    bool ok = false;
    double at_s = 0, loss = 0, reference_loss = 0;
    double allowed = 0;              // the ln-loss excess allowed (tolerance or 2·SE)
    size_t windows = 0, reference_windows = 0;
    bool weighted = false;  // by the windows' standard errors (loss_sem), else equally
  };
  struct LossPoint {
    Setting setting;
    double mid_s = 0, loss = 0;
    double var = 0;  // variance of ln loss, (loss_sem / loss)²; 0 = unknown
    bool after_warmup = false;
  };
  struct Probe {  // the candidate being profiled
    Setting setting;
    double measured_s = 0, energy_j = 0, seconds = 0, incumbent_power_w = 0;
    bool confirming = false;  // a close call against the incumbent: a second measure_s (confirm_margin)
    std::optional<Setting> reference_setting;  // the setting of the window just before it
    bool compares_loss = false;  // a precision-only change: runs until measured and loss_windows_needed() windows (or 4 × measure_s)
    // 2 to see the loss's slope; 3 when the reference has one window: its slope is then the
    // profile's own, and a third window is the only measure of the windows' noise about it
    size_t loss_windows_needed() const { return reference.size() >= 2 ? 2 : 3; }
    bool losses_weighted() const {  // every window so far, on both sides, carries its standard error
      for (const auto* side : {&reference, &losses})
        for (const LossPoint& p : *side)
          if (!(p.var > 0)) return false;
      return !reference.empty();
    }
    // that setting's last windows past the warm-up (finite losses); its own windows, the transient's
    // too (the loss has no transient: the weights carry over, only the power counters lag)
    std::vector<LossPoint> reference, losses;
  };

  KnobDecision evaluate(double now_s, const std::string& trigger);
  bool close_call(double now_s) const;  // the probe's candidate against the incumbent: measure again?
  // the knobs have not changed since t = 0: the start is no change, warmup_s is its transient
  bool unchanged_since_start() const { return running_since_s_ <= 1e-9; }
  double probe_measure_s() const { return probe_ && probe_->confirming ? 2 * options_.measure_s : options_.measure_s; }
  std::vector<Row> rows(double now_s) const;
  bool eligible(const std::string& precision) const;
  double probe_estimate_j(double power_w) const;
  void end_probe(double now_s, bool completed);
  KnobDecision to(const Setting& next, std::string reason, std::string json);

  KnobPolicyOptions options_;
  Setting incumbent_, running_, requested_;
  std::map<Setting, Sums> sums_;
  std::map<std::string, Verdict> verdicts_;  // low precision -> last loss comparison
  std::vector<std::string> excluded_;
  std::optional<Probe> probe_;
  std::optional<Setting> just_profiled_;  // the probe that ended at this window, for the reason
  std::vector<LossPoint> loss_reference() const;
  std::vector<LossPoint> recent_;         // the last windows' losses, newest last
  double noise_scale_ = 0, max_power_w_ = 0, job_energy_j_ = 0, explore_energy_j_ = 0, last_eval_s_ = 0;
  double log_noise_sum_ = 0, log_noise_weight_ = 0;  // the smoothing of B_noise (noise_half_life_s)
  double noise_at_eval_ = 0;                          // the smoothed B_noise at the last evaluation
  double window_s_ = 0, probe_excess_j_ = 0;  // last window length; last probe's energy above incumbent power
  double now_s_ = 0;            // training seconds at the last window's end
  double running_since_s_ = 0;  // training seconds when the setting requested now began
  bool evaluated_ = false, pending_ = false;
  bool switched_ = false;  // the evaluation running now switched the incumbent
};

}  // namespace joule::energy
