// ClockPolicy and ClockTimeModel: see clock_policy.h for the math and the rules.
#include "energy/clock_policy.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "core/error.h"
#include "energy/clock_snap.h"

namespace joule::energy {

// ---- ClockTimeModel ------------------------------------------------------------------------------

// The free fit needs clocks at least this far apart (highest / lowest seen): with per-window noise
// of about 1%, two clocks 15 MHz apart could fit almost any slope, and a flat one sends a rank to
// the bottom clock.
constexpr double kMinFitSpread = 1.10;

// A lowered rank late at the all-reduce by more than this fraction of the pace rank's compute
// goes to the top clock at once (see observe()); window noise is about 1%.
constexpr double kFarLate = 0.05;

void ClockTimeModel::observe(uint32_t clock_mhz, double compute_s_per_step) {
  JOULE_CHECK(clock_mhz > 0, "ClockTimeModel: clock_mhz must be > 0");
  JOULE_CHECK(std::isfinite(compute_s_per_step) && compute_s_per_step > 0,
              "ClockTimeModel: compute seconds per step must be finite and > 0, got ", compute_s_per_step);
  PerClock& at = by_clock_[clock_mhz];
  at.n += 1;
  at.sum_t += compute_s_per_step;
  ++observations_;
  fit();
}

void ClockTimeModel::reset() {
  by_clock_.clear();
  observations_ = 0;
  c0_ = c1_ = 0;
  fitted_ = false;
}

// Least squares over every observation, summed per clock: with x = 1/f, the within-clock
// deviations of x vanish, so the centred sums need only each clock's count and mean time.
void ClockTimeModel::fit() {
  double n = 0, sum_x = 0, sum_t = 0;
  for (const auto& [f, at] : by_clock_) {
    n += at.n;
    sum_x += at.n / static_cast<double>(f);
    sum_t += at.sum_t;
  }
  const double mean_x = sum_x / n, mean_t = sum_t / n;
  double sxx = 0, sxt = 0, sx2 = 0, sxt0 = 0;  // centred, and through the origin
  for (const auto& [f, at] : by_clock_) {
    const double x = 1.0 / f, t = at.sum_t / at.n;
    sxx += at.n * (x - mean_x) * (x - mean_x);
    sxt += at.n * (x - mean_x) * (t - mean_t);
    sx2 += at.n * x * x;
    sxt0 += at.n * x * t;
  }
  const double spread = static_cast<double>(by_clock_.rbegin()->first) / by_clock_.begin()->first;
  if (by_clock_.size() >= 2 && spread >= kMinFitSpread && sxx > 0) {
    const double c1 = sxt / sxx, c0 = mean_t - c1 * mean_x;
    if (c1 >= 0 && c0 >= 0) {
      c0_ = c0;
      c1_ = c1;
      fitted_ = true;
      return;
    }
  }
  fitted_ = false;
  c0_ = 0;  // the prior: fully clock-bound
  c1_ = sxt0 / sx2;
}

double ClockTimeModel::predict(uint32_t clock_mhz) const {
  JOULE_CHECK(clock_mhz > 0, "ClockTimeModel: clock_mhz must be > 0");
  return c0_ + c1_ / clock_mhz;
}

// ---- ClockPolicy: options, candidates ----------------------------------------------------------

ClockPolicy::ClockPolicy(ClockPolicyOptions options, int ranks)
    : options_(std::move(options)), ranks_(ranks), last_now_s_(-std::numeric_limits<double>::infinity()) {
  const ClockPolicyOptions& o = options_;
  JOULE_CHECK(ranks >= 1, "clock policy: ranks must be >= 1, got ", ranks);
  JOULE_CHECK(o.min_mhz > 0 && o.max_mhz > 0, "clocks.min_mhz and clocks.max_mhz must be > 0 (got ", o.min_mhz, ", ",
              o.max_mhz, ")");
  JOULE_CHECK(o.min_mhz <= o.max_mhz, "clocks.min_mhz (", o.min_mhz, ") > clocks.max_mhz (", o.max_mhz, ")");
  JOULE_CHECK(std::isfinite(o.margin) && o.margin >= 0 && o.margin < 1, "clocks.margin must be in [0, 1), got ",
              o.margin);
  JOULE_CHECK(std::isfinite(o.min_interval_s) && o.min_interval_s >= 0, "clocks.min_interval_s must be >= 0, got ",
              o.min_interval_s);
  JOULE_CHECK(std::isfinite(o.max_slowdown) && o.max_slowdown >= 1, "max_slowdown must be >= 1, got ", o.max_slowdown);
  JOULE_CHECK(std::isfinite(o.min_wait_fraction) && o.min_wait_fraction >= 0 && o.min_wait_fraction < 1,
              "clocks.min_wait_fraction must be in [0, 1), got ", o.min_wait_fraction);
  for (size_t k = 0; k < o.supported_mhz.size(); ++k) {
    JOULE_CHECK(k == 0 || o.supported_mhz[k - 1] < o.supported_mhz[k],
                "clock policy: supported clocks must be strictly ascending");
    if (o.supported_mhz[k] >= o.min_mhz && o.supported_mhz[k] <= o.max_mhz) candidates_.push_back(o.supported_mhz[k]);
  }
  JOULE_CHECK(o.supported_mhz.empty() || !candidates_.empty(), "clocks.min_mhz..max_mhz (", o.min_mhz, "..", o.max_mhz,
              " MHz) contains none of the card's supported clocks");
  models_.resize(static_cast<size_t>(ranks));
  clock_.assign(static_cast<size_t>(ranks), highest_mhz());
  ceiling_.assign(static_cast<size_t>(ranks), 0);
  last_change_s_.assign(static_cast<size_t>(ranks), -std::numeric_limits<double>::infinity());
}

uint32_t ClockPolicy::lowest_mhz() const { return candidates_.empty() ? options_.min_mhz : candidates_.front(); }
uint32_t ClockPolicy::highest_mhz() const { return candidates_.empty() ? options_.max_mhz : candidates_.back(); }

uint32_t ClockPolicy::snap(uint32_t mhz) const {
  if (candidates_.empty()) return std::clamp(mhz, options_.min_mhz, options_.max_mhz);
  return nearest_supported_clock(candidates_, mhz);
}

double ClockPolicy::predict(int rank, uint32_t mhz) const {
  const uint32_t ceiling = ceiling_.at(static_cast<size_t>(rank));
  return model(rank).predict(ceiling > 0 ? std::min(mhz, ceiling) : mhz);
}

// Binary search: with c1 ≥ 0 the prediction never increases with the clock (nor does min(f,
// ceiling) decrease), so "fits" is monotone.
uint32_t ClockPolicy::lowest_fitting(int rank, double bound_s) const {
  const size_t count = candidates_.empty() ? size_t{options_.max_mhz - options_.min_mhz} + 1 : candidates_.size();
  auto clock_at = [&](size_t k) {
    return candidates_.empty() ? options_.min_mhz + static_cast<uint32_t>(k) : candidates_[k];
  };
  if (predict(rank, clock_at(count - 1)) > bound_s) return 0;
  size_t lo = 0, hi = count - 1;  // hi fits
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (predict(rank, clock_at(mid)) <= bound_s)
      hi = mid;
    else
      lo = mid + 1;
  }
  return clock_at(lo);
}

uint32_t ClockPolicy::unless_both_capped(int rank, uint32_t target) const {
  const uint32_t ceiling = ceiling_[static_cast<size_t>(rank)], current = clock_[static_cast<size_t>(rank)];
  return ceiling > 0 && target >= ceiling && current >= ceiling ? current : target;
}

uint32_t ClockPolicy::clock_at_or_below(uint32_t mhz) const {
  if (candidates_.empty()) return mhz < options_.min_mhz ? 0 : std::min(mhz, options_.max_mhz);
  const auto above = std::upper_bound(candidates_.begin(), candidates_.end(), mhz);
  return above == candidates_.begin() ? 0 : *(above - 1);
}

uint32_t ClockPolicy::clock_above(uint32_t mhz) const {
  if (candidates_.empty()) return std::min(mhz + 1, options_.max_mhz);
  const auto above = std::upper_bound(candidates_.begin(), candidates_.end(), mhz);
  return above == candidates_.end() ? candidates_.back() : *above;
}

void ClockPolicy::reset_models() {
  for (ClockTimeModel& m : models_) m.reset();
  top_step_s_ = step_ratio_ = 0;
  top_steps_ = ratio_windows_ = 0;
  bound_scale_ = 1;
}

// max_slowdown holds on the measured step, not only on the pace rank's predicted compute: when
// many ranks run just in time, the slowest of their jittered steps lengthens every step beyond
// what the pace alone predicts. The step time (the largest compute + wait: the all-reduce's exit)
// of windows with every rank at the top clock is the reference; windows below it feed a running
// mean of step / reference (weight 1/4 per window); after at least 3 windows, a mean above
// max_slowdown S scales the pace bound by S / mean (bound_scale_, never above 1 or below 1/S) and
// starts the mean afresh; a mean below 1 + (S − 1)/2 (less than half the allowed slowdown used)
// while the bound is scaled gives some of it back the same way.
void ClockPolicy::track_step_time(const std::vector<RankTiming>& ranks) {
  const uint32_t top = highest_mhz();
  double step = 0;
  bool all_top = true;
  for (const RankTiming& r : ranks) {
    if (r.compute_s <= 0) continue;
    step = std::max(step, r.compute_s + r.wait_s);
    all_top = all_top && (r.clock_mhz == 0 || r.clock_mhz >= top);
  }
  if (step <= 0) return;
  if (probe_window_) {  // the probe runs past the bound on purpose, for one window
    probe_window_ = false;
    return;
  }
  if (all_top) {
    top_step_s_ = (top_step_s_ * top_steps_ + step) / (top_steps_ + 1);
    ++top_steps_;
    return;
  }
  const double bound = options_.max_slowdown;
  if (bound <= 1 || top_steps_ == 0) return;
  const double ratio = step / top_step_s_;
  step_ratio_ = ratio_windows_ == 0 ? ratio : 0.75 * step_ratio_ + 0.25 * ratio;
  ++ratio_windows_;
  const bool over = step_ratio_ > bound, well_under = step_ratio_ < 1 + (bound - 1) / 2 && bound_scale_ < 1;
  if (ratio_windows_ >= 3 && (over || well_under)) {
    bound_scale_ = std::clamp(bound_scale_ * bound / step_ratio_, 1 / bound, 1.0);
    ratio_windows_ = 0;
  }
}

// ---- ClockPolicy: decisions --------------------------------------------------------------------

namespace {

std::string format(const char* fmt, double a = 0, double b = 0, double c = 0, double d = 0, double e = 0) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, fmt, a, b, c, d, e);
  return buffer;
}

std::string ms(double seconds) { return format("%.1f ms", seconds * 1e3); }
// "%.9g" (std::to_chars: the same digits, without printf's cost; detail_json has ~10 per rank)
void append_num(std::string& out, double v) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, v, std::chars_format::general, 9).ptr;
  out.append(text, end);
}
std::string num(double v) {
  std::string out;
  append_num(out, v);
  return out;
}
std::string mhz_change(uint32_t from, uint32_t to) {
  return std::to_string(from) + " \u2192 " + std::to_string(to) + " MHz";
}

enum class Held { none, interval, no_slack, no_data };

const char* held_name(Held h) {
  switch (h) {
    case Held::none: return "";
    case Held::interval: return "interval";
    case Held::no_slack: return "no_slack";
    case Held::no_data: return "no_data";
  }
  return "";
}

// A change of a rank other than the pace rank, kept as numbers: its sentence is written only when
// few ranks change, and many are summarised by kind (4096 sentences cost ~10 ms and a 400 KB
// line in every rank's log; the detail JSON has every rank's numbers either way).
struct FollowerChange {
  enum Kind { late_far, late_near, no_longer_fits, waits, follows, kinds };
  size_t rank;
  Kind kind;
  uint32_t from, to;
  double x, y;  // late: compute, pace's compute; no_longer_fits: predicted at to, at from;
                // waits: predicted at to, wait fraction; follows: predicted at to, unused
};

// Per-rank sentences up to this many changed ranks; beyond, one summary per kind.
constexpr size_t kMaxRankSentences = 8;

std::string follower_sentence(const FollowerChange& c, size_t pace, const std::string& slowest) {
  const std::string who = "rank " + std::to_string(c.rank);
  switch (c.kind) {
    case FollowerChange::late_far:
    case FollowerChange::late_near:
      return who + " computed " + ms(c.x) + " > pace rank " + std::to_string(pace) + "'s " + ms(c.y) + ": " +
             mhz_change(c.from, c.to) + (c.kind == FollowerChange::late_far ? " at once" : ", one step up or more");
    case FollowerChange::no_longer_fits:
      return who + " no longer fits: " + mhz_change(c.from, c.to) + ", predicted " + ms(c.x) + " \u2264 " + slowest +
             " (" + ms(c.y) + " at " + std::to_string(c.from) + " MHz)";
    case FollowerChange::waits:
      return who + " waits " + format("%.0f%%", 100 * c.y) + " of the step: " + mhz_change(c.from, c.to) +
             ", predicted " + ms(c.x) + " \u2264 " + slowest;
    case FollowerChange::follows:
    case FollowerChange::kinds: break;
  }
  return who + " follows the pace down: " + mhz_change(c.from, c.to) + ", predicted " + ms(c.x) + " \u2264 " + slowest;
}

std::string range(double lo, double hi, const std::string& unit, const char* fmt = "%.0f") {
  const std::string a = format(fmt, lo), b = format(fmt, hi);
  return (a == b ? a : a + "\u2013" + b) + unit;
}

// One sentence per kind: "63 ranks wait 14–15% of the step: 1410 → 1350–1365 MHz, predicted
// 893.3–900.2 ms ≤ slowest 948.9 ms × 0.95 (ranks 1, 2, 3, …)".
void summarise_followers(const std::vector<FollowerChange>& changes, size_t pace, const std::string& slowest,
                         std::vector<std::string>& sentences) {
  static const char* const what[FollowerChange::kinds] = {"computed > the pace rank's, more than 5% late",
                                                          "computed > the pace rank's, within 5%", "no longer fit",
                                                          "wait", "follow the pace down"};
  static const char* const then[FollowerChange::kinds] = {" at once", ", one step up or more", "", "", ""};
  for (int kind = 0; kind < FollowerChange::kinds; ++kind) {
    size_t count = 0;
    double from_lo = 1e300, from_hi = 0, to_lo = 1e300, to_hi = 0, x_lo = 1e300, x_hi = 0, y_lo = 1e300, y_hi = 0;
    std::string ranks;
    for (const FollowerChange& c : changes) {
      if (c.kind != kind) continue;
      if (++count <= 3) ranks += (count > 1 ? ", " : "") + std::to_string(c.rank);
      from_lo = std::min<double>(from_lo, c.from), from_hi = std::max<double>(from_hi, c.from);
      to_lo = std::min<double>(to_lo, c.to), to_hi = std::max<double>(to_hi, c.to);
      x_lo = std::min(x_lo, c.x), x_hi = std::max(x_hi, c.x), y_lo = std::min(y_lo, c.y), y_hi = std::max(y_hi, c.y);
    }
    if (count == 0) continue;
    if (count == 1) {  // one rank of this kind: its own sentence
      for (const FollowerChange& c : changes)
        if (c.kind == kind) sentences.push_back(follower_sentence(c, pace, slowest));
      continue;
    }
    std::string text = std::to_string(count) + " ranks " + what[kind];
    if (kind == FollowerChange::waits) text += " " + range(100 * y_lo, 100 * y_hi, "%") + " of the step";
    text += ": " + range(from_lo, from_hi, "") + " \u2192 " + range(to_lo, to_hi, " MHz") + then[kind];
    if (kind == FollowerChange::late_far || kind == FollowerChange::late_near)
      text += ", computed " + range(1e3 * x_lo, 1e3 * x_hi, " ms", "%.1f");
    else
      text += ", predicted " + range(1e3 * x_lo, 1e3 * x_hi, " ms", "%.1f") + " \u2264 " + slowest;
    text += " (ranks " + ranks + (count > 3 ? ", \u2026)" : ")");
    sentences.push_back(std::move(text));
  }
}

}  // namespace

ClockDecision ClockPolicy::observe(double now_s, const std::vector<RankTiming>& ranks) {
  JOULE_CHECK(static_cast<int>(ranks.size()) == ranks_, "clock policy: ", ranks.size(), " rank timings for ", ranks_,
              " ranks");
  JOULE_CHECK(std::isfinite(now_s) && now_s >= last_now_s_, "clock policy: now_s must not decrease (", now_s, " after ",
              last_now_s_, ")");
  last_now_s_ = now_s;
  const uint32_t top = highest_mhz();
  const auto n = static_cast<size_t>(ranks_);
  for (size_t i = 0; i < n; ++i) {
    const RankTiming& r = ranks[i];
    JOULE_CHECK(std::isfinite(r.compute_s) && r.compute_s >= 0 && std::isfinite(r.wait_s) && r.wait_s >= 0,
                "clock policy: rank ", i, " timing must be finite and >= 0 (compute ", r.compute_s, " s, wait ",
                r.wait_s, " s)");
    if (r.compute_s <= 0) continue;
    const uint32_t set = r.clock_mhz == 0 ? top : r.clock_mhz;
    const uint32_t ran = r.measured_mhz > 0 ? r.measured_mhz : set;
    if (ran < set) ceiling_[i] = ran;
    models_[i].observe(ran, r.compute_s);
  }
  track_step_time(ranks);

  // The plan: the pace rank, its clock under max_slowdown, every other rank just in time.
  int pace = -1;
  double t_top = 0;
  for (size_t i = 0; i < n; ++i) {
    if (models_[i].observations() == 0) continue;
    const double p = predict(static_cast<int>(i), top);
    if (pace < 0 || p > t_top) pace = static_cast<int>(i), t_top = p;
  }
  ClockDecision d;
  d.clock_mhz = clock_;
  d.rank_changed.assign(n, false);
  if (pace < 0) {
    d.reason = "no change: no rank has measured compute yet";
    d.detail_json = "{\"pace_rank\":-1,\"ranks\":[]}";
    return d;
  }
  const auto s = static_cast<size_t>(pace);
  const double slowdown = std::max(1.0, bound_scale_ * options_.max_slowdown);  // see track_step_time
  const double pace_bound = slowdown * t_top;
  uint32_t pace_target = lowest_fitting(pace, pace_bound);
  if (pace_target == 0) pace_target = top;  // unreachable: p_s(top) = t_top ≤ pace_bound
  // max_slowdown, the pace rank's model still the prior: probe (see clock_policy.h)
  bool probing = false;
  const ClockTimeModel& pace_model = models_[s];
  if (options_.max_slowdown > 1 && !pace_model.fitted() && pace_target < top &&
      pace_model.lowest_clock() * kMinFitSpread > pace_model.highest_clock()) {
    const uint32_t probe = clock_at_or_below(static_cast<uint32_t>(pace_model.highest_clock() / kMinFitSpread + 1e-6));
    if (probe != 0 && probe < pace_target) pace_target = probe, probing = true;
  }
  pace_target = unless_both_capped(pace, pace_target);
  const double t_pace = predict(pace, pace_target);
  const double follow_bound = (1 - options_.margin) * t_pace;
  // Under max_slowdown, a rank within the margin of the slowest at max clocks (uniform ranks: all of
  // them) has no slack a margin could come out of: it goes down with the pace rank, to the pace's
  // time, not to (1 − margin) of it (which no such rank can meet below the top clock).
  const bool together = options_.max_slowdown > 1;
  const double co_pace_floor = (1 - options_.margin) * t_top;

  std::vector<uint32_t> target(n, 0);
  std::vector<Held> held(n, Held::none);
  std::vector<std::string> sentences;
  auto lowering_allowed = [&](size_t i) { return now_s - last_change_s_[i] >= options_.min_interval_s; };
  auto apply = [&](size_t i, uint32_t to, std::string sentence) {  // the pace rank's change
    sentences.push_back(std::move(sentence));
    d.clock_mhz[i] = to;
    d.rank_changed[i] = true;
    d.changed = true;
  };

  // The pace rank first: whether it goes lower decides whether the others may follow it down.
  target[s] = pace_target;
  bool pace_lowered = false;
  if (pace_target > clock_[s]) {
    apply(s, pace_target,
          "rank " + std::to_string(s) + " sets the pace: " + mhz_change(clock_[s], pace_target) + ", predicted " +
              ms(t_pace) + " \u2264 " + ms(t_top) + " at max clocks \u00d7 " + format("%.3g", slowdown) +
              (bound_scale_ < 1 ? format(" (max_slowdown %.3g; steps measured %.3g\u00d7 the top's)",
                                         options_.max_slowdown, step_ratio_ > 0 ? step_ratio_ : 0)
                                : ""));
  } else if (pace_target < clock_[s]) {
    if (lowering_allowed(s)) {
      pace_lowered = true;
      probe_window_ = probing;
      apply(s, pace_target,
            probing ? "rank " + std::to_string(s) + " sets the pace and probes a clock 10% below its highest for " +
                          "its time-versus-clock curve (max_slowdown " + format("%.2f", options_.max_slowdown) +
                          "): " + mhz_change(clock_[s], pace_target) + " for one window"
                    : "rank " + std::to_string(s) + " sets the pace, max_slowdown " +
                          format("%.2f", options_.max_slowdown) + ": " + mhz_change(clock_[s], pace_target) +
                          ", predicted " + ms(t_pace) + " \u2264 " + ms(t_top) + " at max clocks \u00d7 " +
                          format("%.3g", slowdown));
    } else {
      held[s] = Held::interval;
    }
  }

  const std::string slowest = "slowest " + ms(t_pace) + " \u00d7 " + format("%.2f", 1 - options_.margin);
  std::vector<FollowerChange> followers;
  auto change = [&](size_t i, uint32_t to, FollowerChange::Kind kind, double x, double y) {
    followers.push_back({i, kind, clock_[i], to, x, y});
    d.clock_mhz[i] = to;
    d.rank_changed[i] = true;
    d.changed = true;
  };
  for (size_t i = 0; i < n; ++i) {
    if (i == s) continue;
    if (models_[i].observations() == 0) {
      held[i] = Held::no_data;
      continue;
    }
    const bool co_pace = together && predict(static_cast<int>(i), top) >= co_pace_floor;
    const uint32_t fit = lowest_fitting(static_cast<int>(i), co_pace ? t_pace : follow_bound);
    target[i] = unless_both_capped(static_cast<int>(i), fit == 0 ? top : fit);
    const RankTiming& r = ranks[i];
    const double step = r.compute_s + r.wait_s;
    const double wait_fraction = step > 0 ? r.wait_s / step : 0;
    // late: a lowered rank that now arrives after the pace rank (its wait vanished); a co-pace rank
    // computes about as long as the pace rank by design, so it is late only past the slowdown bound
    // by more than the margin (a step's noise is left to the refitted model)
    const bool late = clock_[i] < top && r.compute_s > 0 && ranks[s].compute_s > 0 &&
                      (co_pace ? r.compute_s > (1 + options_.margin) * pace_bound : r.compute_s > ranks[s].compute_s);
    // Late by more than kFarLate (or a co-pace rank past its bound): to the top at once, the rank
    // may have turned into the straggler. Late by less, as window noise makes a rank lowered just
    // in time now and then: to its refitted target, at least one clock up (sending it to the top
    // on noise costs a window or more at full power each time: ~1% of a 64-rank job's energy).
    const bool far_late = co_pace || r.compute_s > (1 + kFarLate) * ranks[s].compute_s;
    if (late) {
      change(i, far_late ? top : std::max(target[i], clock_above(clock_[i])),
             far_late ? FollowerChange::late_far : FollowerChange::late_near, r.compute_s, ranks[s].compute_s);
    } else if (target[i] > clock_[i]) {
      change(i, target[i], FollowerChange::no_longer_fits, predict(static_cast<int>(i), target[i]),
             predict(static_cast<int>(i), clock_[i]));
    } else if (target[i] < clock_[i]) {
      const bool slack = r.compute_s > 0 && wait_fraction >= options_.min_wait_fraction;
      if (!lowering_allowed(i)) {
        held[i] = Held::interval;
      } else if (!slack && !pace_lowered && !(co_pace && clock_[s] < top)) {
        held[i] = Held::no_slack;
      } else {
        change(i, target[i], slack ? FollowerChange::waits : FollowerChange::follows,
               predict(static_cast<int>(i), target[i]), wait_fraction);
      }
    }
  }
  if (followers.size() <= kMaxRankSentences) {
    for (const FollowerChange& c : followers) sentences.push_back(follower_sentence(c, s, slowest));
  } else {
    summarise_followers(followers, s, slowest, sentences);
  }

  if (d.changed) {
    for (size_t k = 0; k < sentences.size(); ++k) d.reason += (k ? "; " : "") + sentences[k];
  } else {
    d.reason = "no change: rank " + std::to_string(s) + " sets the pace at " + ms(predict(pace, clock_[s])) + " (" +
               std::to_string(clock_[s]) + " MHz)";
    std::string holds;
    const size_t interval_held = static_cast<size_t>(std::count(held.begin(), held.end(), Held::interval));
    const size_t slack_held = static_cast<size_t>(std::count(held.begin(), held.end(), Held::no_slack));
    const std::string interval = format("%g", options_.min_interval_s) + " s interval";
    if (interval_held + slack_held <= kMaxRankSentences) {
      for (size_t i = 0; i < n; ++i) {
        if (held[i] == Held::interval)
          holds += ", rank " + std::to_string(i) + " held for the " + interval;
        else if (held[i] == Held::no_slack)
          holds +=
              ", rank " + std::to_string(i) + " waits " +
              format("%.0f%% < %.0f%%", 100 * ranks[i].wait_s / std::max(ranks[i].compute_s + ranks[i].wait_s, 1e-300),
                     100 * options_.min_wait_fraction);
      }
    } else {  // many ranks: counts (the detail JSON has each rank's "held")
      if (interval_held) holds += ", " + std::to_string(interval_held) + " ranks held for the " + interval;
      if (slack_held)
        holds += ", " + std::to_string(slack_held) + " ranks wait < " +
                 format("%.0f%%", 100 * options_.min_wait_fraction) + " of the step";
    }
    d.reason += holds.empty() ? ", every rank at its target" : holds;
  }

  std::string json = "{\"pace_rank\":" + std::to_string(s) + ",\"step_at_max_s\":" + num(t_top) +
                     ",\"pace_s\":" + num(t_pace) + ",\"follow_bound_s\":" + num(follow_bound) +
                     ",\"margin\":" + num(options_.margin) + ",\"max_slowdown\":" + num(options_.max_slowdown) +
                     ",\"bound_scale\":" + num(bound_scale_) + ",\"step_at_top_s\":" + num(top_step_s_) +
                     ",\"ranks\":[";
  json.reserve(json.size() + n * 200);
  for (size_t i = 0; i < n; ++i) {
    const ClockTimeModel& m = models_[i];
    json += i ? ",{\"rank\":" : "{\"rank\":";
    json += std::to_string(i);
    json += ",\"clock\":";
    json += std::to_string(clock_[i]);
    json += ",\"compute_s\":";
    append_num(json, ranks[i].compute_s);
    json += ",\"wait_s\":";
    append_num(json, ranks[i].wait_s);
    json += ",\"c0\":";
    append_num(json, m.c0());
    json += ",\"c1\":";
    append_num(json, m.c1());
    json += ",\"distinct_clocks\":";
    json += std::to_string(m.distinct_clocks());
    json += ",\"predicted_s\":";
    append_num(json, m.observations() ? predict(static_cast<int>(i), clock_[i]) : 0);
    json += ",\"ceiling\":";
    json += std::to_string(ceiling_[i]);
    json += ",\"target\":";
    json += std::to_string(target[i]);
    json += ",\"next\":";
    json += std::to_string(d.clock_mhz[i]);
    json += ",\"held\":\"";
    json += held_name(held[i]);
    json += "\"}";
  }
  d.detail_json = json + "]}";

  for (size_t i = 0; i < n; ++i) {
    if (!d.rank_changed[i]) continue;
    JOULE_ASSERT(d.clock_mhz[i] >= lowest_mhz() && d.clock_mhz[i] <= top && snap(d.clock_mhz[i]) == d.clock_mhz[i]);
    clock_[i] = d.clock_mhz[i];
    last_change_s_[i] = now_s;
  }
  return d;
}

}  // namespace joule::energy
