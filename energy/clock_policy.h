// ClockPolicy: per-rank SM clocks for data-parallel training, decided online from measured compute
// and all-reduce wait (issue 10, "clocks, per rank"). It decides; ClockActuator applies.
//
// Idea (Perseus, Chung et al., SOSP'24; EnvPipe, Choi et al., ATC'23): work that is not on the
// critical path can run at a lower clock, at no cost in time and with less energy. In data
// parallelism every rank meets every other at the gradient all-reduce, so the slowest rank sets
// the pace and a rank that waits there has slack it can spend running slower.
//
// Model, per rank: compute seconds per step t(f) = c0 + c1/f at SM clock f (MHz); c0 is the part
// that does not scale with the clock (memory, host), c1/f the clock-bound part. Least squares in
// x = 1/f over every window observed (one (f, t) pair each). Published profiles fit within 1% RMS
// (A100-SXM, GPT-3 stage backward, 855-1410 MHz: 0.8%; ../shared/reference/gpu-clock-profiles).
// With fewer than 2 distinct clocks seen, clocks spanning less than 10% (highest/lowest < 1.1: the
// slope would be noise), or where the fit is unphysical (c0 < 0 or c1 < 0), the model is fully
// clock-bound through the origin, c0 = 0, c1 = Σ x·t / Σ x² (one clock:
// t(f) = t_obs·f_obs/f): the conservative prior, it never predicts less slowdown than 1/f.
//
// Policy, each window (C = the supported clocks within [min_mhz, max_mhz], f_top = max C,
// p_i(f) = rank i's model, m = margin, S = max_slowdown):
//   pace rank s = argmax_i p_i(f_top) (ties: lowest rank); T_top = p_s(f_top), the predicted step
//   compute at max clocks; under max_slowdown S is scaled down when the measured steps ran longer
//   than S × those at top clocks (the jitter of many just-in-time ranks: track_step_time);
//   s's target f_s = the lowest f in C with p_s(f) ≤ S·T_top (S = 1: f_top unless s is flat);
//   the pace T = p_s(f_s);
//   every other rank's target f_i = the lowest f in C with p_i(f) ≤ (1 − m)·T, or f_top if none;
//   except under max_slowdown (S > 1) for a co-pace rank, p_i(f_top) ≥ (1 − m)·T_top (no slack a
//   margin could come out of; uniform ranks are all co-pace): the lowest f with p_i(f) ≤ T, so it
//   goes down with the pace rank; it counts as late only past (1 + m)·S·T_top;
//   so the predicted step compute max_i p_i(f_i) ≤ S·T_top.
// Changes, per rank (current = the clock this policy last decided, f_top at the start):
//   raise (target above current, or the rank measured late: its compute this window exceeds
//   the pace rank's while below f_top, i.e. it arrives last and its wait vanished; late by more
//   than 5% (window noise is ~1%): to f_top, it may have become the straggler; within it, as window noise makes
//   a rank lowered just in time now and then: to its refitted target, at least one clock up):
//   at once, for time's sake;
//   lower (target below current): only when at least min_interval_s passed since this rank's last
//   change, and, for a rank other than the pace rank, when it measurably waits,
//   wait ≥ min_wait_fraction·(compute + wait), or the pace rank goes lower in the same decision
//   (max_slowdown: all together). Changing clocks every ~50 ms delays NCCL collectives, so
//   min_interval_s is seconds.
// Learning uses the clock each rank measured, else the clock it was set to (0: f_top); a rank
// without compute data yet is left alone. A rank measured below its set clock is capped (a power
// cap or thermals hold it there: the A100's flat top above ~1365 MHz, the A40's): its ceiling is
// the last such measurement, and a clock f in C runs at min(f, ceiling), p_i(f) = the model there;
// a target and a current clock both at or above the ceiling run alike, so the rank keeps its clock.
// Probing (max_slowdown only): while the pace rank's model is still the prior (its clocks span
// less than 10%), its target is at most the highest clock in C that runs ≥ 10% below the highest
// clock it ran at, for one window: the prior's 1/f overstates the slowdown of a rank that is not
// fully clock-bound, and would hold all ranks near the top; the next window fits c0 and c1, and a
// target above the probe is a raise, taken at once. The probe's cost: one window ≤ 10% slower.
// (Without max_slowdown a waiting rank's own lowering spreads its clocks.) The curves assume fixed work per step: call
// reset_models() when batch size or precision changes. Targets are recomputed from the models every window, so a
// lowered rank whose model shows it no longer fits is raised to the lowest clock that fits, and the hysteresis is the
// margin itself. Invariants: deterministic given the sequence of observe() calls (no clocks, no randomness, ordered
// containers only), so every rank computes the same decision; every decided clock is in C.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace joule::energy {

// t(f) = c0 + c1/f, seconds per step at SM clock f (MHz). See the file comment.
class ClockTimeModel {
 public:
  // One window at clock_mhz (> 0) taking compute_s_per_step (> 0, finite) seconds per step.
  void observe(uint32_t clock_mhz, double compute_s_per_step);
  double predict(uint32_t clock_mhz) const;  // seconds per step; 0 before any observation
  int distinct_clocks() const { return static_cast<int>(by_clock_.size()); }
  int observations() const { return observations_; }
  double c0() const { return c0_; }        // seconds per step
  double c1() const { return c1_; }        // seconds per step × MHz
  bool fitted() const { return fitted_; }  // c0, c1 from the free fit (false: the clock-bound prior)
  uint32_t highest_clock() const { return by_clock_.empty() ? 0 : by_clock_.rbegin()->first; }  // observed
  uint32_t lowest_clock() const { return by_clock_.empty() ? 0 : by_clock_.begin()->first; }
  void reset();  // forget everything (the work per step changed: batch size, precision)

 private:
  struct PerClock {
    int n = 0;
    double sum_t = 0;
  };
  void fit();
  std::map<uint32_t, PerClock> by_clock_;  // ordered: the fit sums in clock order
  int observations_ = 0;
  double c0_ = 0, c1_ = 0;
  bool fitted_ = false;
};

struct ClockPolicyOptions {
  uint32_t min_mhz = 0, max_mhz = 0;  // knob bounds (both > 0, min ≤ max)
  std::vector<uint32_t>
      supported_mhz;          // the card's supported SM clocks ascending; empty = any integer MHz in [min, max]
  double margin = 0.05;       // the waiting rank's predicted compute ≤ (1 − margin)·slowest's; [0, 1)
  double min_interval_s = 5;  // never lower a rank's clock more often than this (≥ 0)
  double max_slowdown =
      1.0;  // ≥ 1: also lower all ranks together while the predicted step time ≤ max_slowdown × that at max clocks
  double min_wait_fraction = 0.05;  // a rank has slack when its wait ≥ this fraction of its step; [0, 1)
};

struct RankTiming {           // one rank's window, per step averages
  uint32_t clock_mhz = 0;     // the clock it was set to (0 = unknown: treat as max_mhz)
  double compute_s = 0;       // forward + backward + optimizer seconds per step (0 = no data: not learned)
  double wait_s = 0;          // seconds per step waiting at the gradient all-reduce
  uint32_t measured_mhz = 0;  // the mean SM clock measured over its compute (0 = not measured: clock_mhz);
                              // below clock_mhz when a power cap or thermals pull the clock down
};

struct ClockDecision {
  bool changed = false;
  std::vector<uint32_t> clock_mhz;  // per rank, the clock to run at next (unchanged ranks keep theirs)
  std::vector<bool> rank_changed;   // per rank: its clock changed in this decision
  std::string reason;               // one sentence per changed rank with the numbers, or why nothing changed
  std::string detail_json;  // JSON object: pace, bounds and per rank {clock, compute_s, wait_s, c0, c1, predicted_s,
                            // target, next}
};

class ClockPolicy {
 public:
  // Throws joule::Error (invalid input) naming the option when the options are out of range or
  // no supported clock lies within [min_mhz, max_mhz]; ranks ≥ 1.
  ClockPolicy(ClockPolicyOptions options, int ranks);

  // Every rank's timing for the window that closed at now_s (seconds, monotonic, the same value on
  // every rank: the lead passes an agreed time). Learns each rank's model, then decides.
  // ranks.size() must equal the rank count; now_s must not decrease. Each window must have run
  // entirely at clock_mhz (the caller discards the transient after a change).
  ClockDecision observe(double now_s, const std::vector<RankTiming>& ranks);

  const std::vector<uint32_t>& clocks() const { return clock_; }  // current decision, per rank, MHz
  const ClockTimeModel& model(int rank) const { return models_.at(static_cast<size_t>(rank)); }
  const std::vector<uint32_t>& candidates() const {
    return candidates_;
  }                              // C ascending; empty = every integer in [lo, hi]
  uint32_t lowest_mhz() const;   // min C
  uint32_t highest_mhz() const;  // f_top = max C
  // The lowest clock in C with predict(rank, f) ≤ bound_s; 0 when none fits.
  uint32_t lowest_fitting(int rank, double bound_s) const;
  // Rank's predicted compute seconds per step when set to clock f: its model at min(f, ceiling).
  double predict(int rank, uint32_t mhz) const;
  uint32_t ceiling_mhz(int rank) const { return ceiling_.at(static_cast<size_t>(rank)); }  // 0 = none seen
  // The supported clock within bounds nearest mhz (ties: the lower one), as ClockActuator snaps.
  uint32_t snap(uint32_t mhz) const;
  uint32_t clock_above(uint32_t mhz) const;        // the next clock in C above mhz (f_top at or above the top)
  uint32_t clock_at_or_below(uint32_t mhz) const;  // the highest clock in C ≤ mhz (0 = none)
  // `target`, or the rank's current clock when both are at or above its ceiling (they run alike:
  // a change there would change nothing but the logs).
  uint32_t unless_both_capped(int rank, uint32_t target) const;
  void reset_models();  // the work per step changed (batch size, precision): relearn every curve

 private:
  ClockPolicyOptions options_;
  int ranks_;
  std::vector<uint32_t> candidates_;  // supported clocks within bounds, ascending (empty: integers)
  std::vector<ClockTimeModel> models_;
  std::vector<uint32_t> clock_;    // per rank, the clock last decided
  std::vector<uint32_t> ceiling_;  // per rank, the last clock measured below the set one (0 = none)
  // the measured step against max_slowdown (track_step_time in clock_policy.cpp)
  void track_step_time(const std::vector<RankTiming>& ranks);
  double top_step_s_ = 0;  // mean step of the windows with every rank at the top clock
  int top_steps_ = 0;
  double step_ratio_ = 0;              // running mean of step / top_step_s_ below the top
  int ratio_windows_ = 0;              // windows in step_ratio_ since it last started
  bool probe_window_ = false;          // the next window runs the probe: not counted
  double bound_scale_ = 1;             // the pace bound is max(1, bound_scale_ · max_slowdown) × t_top
  std::vector<double> last_change_s_;  // per rank; -inf before any change
  double last_now_s_;
};

}  // namespace joule::energy
