// KnobPolicy (knob_policy.h): measurement bookkeeping, evaluation (adopt / profile / return) and the
// reasons with their numbers. Iteration is over ordered containers only (determinism across ranks).
#include "energy/knob_policy.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace joule::energy {

namespace {

constexpr const char* kReference = "f32";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string num(double value, const char* format = "%.4g") {
  if (!std::isfinite(value)) return "null";
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

std::string percent(double fraction) { return num(100 * fraction, "%.1f") + "%"; }

std::string quoted(const std::string& text) { return "\"" + text + "\""; }  // names only: no escaping

}  // namespace

std::string setting_name(const Setting& setting) { return std::to_string(setting.batch) + "/" + setting.precision; }

double batch_efficiency(int64_t batch, int64_t reference_batch, double noise_scale) {
  if (!(noise_scale > 0) || !std::isfinite(noise_scale)) return 1.0;
  return (noise_scale + double(reference_batch)) / (noise_scale + double(batch));
}

struct KnobPolicy::Row {
  Setting setting;
  double j_per_sample = 0, s_per_sample = 0, efficiency = 1, cost = 0, s_per_effective = 0, age_s = 0;
  bool fresh = false, eligible = false, feasible = true;
};

KnobPolicy::KnobPolicy(KnobPolicyOptions options, Setting start)
    : options_(std::move(options)), incumbent_(start), running_(start), requested_(start) {
  validate_knob_policy(options_, start);
}

bool KnobPolicy::eligible(const std::string& precision) const {
  if (std::count(excluded_.begin(), excluded_.end(), precision) > 0) return false;
  if (precision == kReference) return true;
  if (std::count(options_.precisions.begin(), options_.precisions.end(), kReference) == 0) return true;
  auto verdict = verdicts_.find(precision);
  return verdict != verdicts_.end() && verdict->second.ok;
}

// Exploration energy a profile is expected to add: what the last profile cost beyond the
// incumbent's power (its transient, a hungrier setting), at least one window of a candidate 1.5× as
// costly as the incumbent. (A profile is abandoned at the first window that takes the exploration
// energy past the budget, so the bound is exceeded by at most one window.)
double KnobPolicy::probe_estimate_j(double power_w) const {
  const double w = window_s_ > 0 ? window_s_ : 1.0;
  return std::max(0.5 * power_w * w, probe_excess_j_);
}

std::vector<KnobPolicy::Row> KnobPolicy::rows(double now_s) const {
  const double power_w = options_.p_max_w > 0 ? options_.p_max_w : max_power_w_;
  std::vector<Row> rows;
  for (const auto& [setting, sums] : sums_) {
    if (sums.measured_s < options_.measure_s || !(sums.samples > 0)) continue;
    if (std::count(options_.batches.begin(), options_.batches.end(), setting.batch) == 0 ||
        std::count(options_.precisions.begin(), options_.precisions.end(), setting.precision) == 0)
      continue;  // something the lead ran that is not a candidate (a fallback to f32): never chosen
    Row row;
    row.setting = setting;
    row.j_per_sample = sums.energy_j / sums.samples;
    row.s_per_sample = sums.seconds / sums.samples;
    row.efficiency = batch_efficiency(setting.batch, options_.reference_batch, noise_scale_);
    row.cost = (options_.eta * row.j_per_sample + (1 - options_.eta) * power_w * row.s_per_sample) / row.efficiency;
    row.s_per_effective = row.s_per_sample / row.efficiency;
    row.age_s = now_s - sums.updated_s;
    row.fresh = row.age_s <= options_.stale_s;
    row.eligible = eligible(setting.precision);
    rows.push_back(row);
  }
  if (options_.max_slowdown > 0) {
    double fastest = std::numeric_limits<double>::infinity();
    for (const Row& row : rows)
      if (row.fresh && row.eligible) fastest = std::min(fastest, row.s_per_effective);
    for (Row& row : rows) {
      const double slack = row.setting == incumbent_ ? 1 + options_.hysteresis : 1.0;
      row.feasible = !(row.s_per_effective > options_.max_slowdown * fastest * slack);
    }
  }
  return rows;
}

void KnobPolicy::precision_failed(const std::string& precision) {
  if (precision == kReference) return;  // nothing to fall back to
  if (std::count(excluded_.begin(), excluded_.end(), precision) == 0) excluded_.push_back(precision);
  if (std::count(options_.precisions.begin(), options_.precisions.end(), kReference) == 0)
    options_.precisions.insert(options_.precisions.begin(), kReference);  // the fallback becomes a candidate
  auto fall_back = [&](Setting& setting) {
    if (setting.precision == precision) setting.precision = kReference;
  };
  fall_back(incumbent_);
  fall_back(running_);
  fall_back(requested_);
  if (probe_ && probe_->setting.precision == precision) probe_.reset();
  pending_ = true;  // evaluate at the next window
}

std::vector<SettingEstimate> KnobPolicy::measurements() const {
  std::vector<SettingEstimate> out;
  for (const auto& [setting, sums] : sums_) {
    if (!(sums.samples > 0)) continue;
    out.push_back({setting, sums.energy_j / sums.samples, sums.seconds / sums.samples, sums.measured_s, sums.updated_s,
                   sums.loss_samples > 0 ? sums.loss_sum / sums.loss_samples : kNaN});
  }
  return out;
}

KnobDecision KnobPolicy::to(const Setting& next, std::string reason, std::string json) {
  KnobDecision decision;
  decision.reason = std::move(reason);
  decision.detail_json = std::move(json);
  decision.switched = switched_;
  if (!(next == requested_) || !(next == running_)) {
    decision.change = true;
    decision.next = next;
    requested_ = next;
    running_since_s_ = now_s_;  // it runs from the next step, the window after this one
  }
  return decision;
}

double KnobPolicy::next_boundary_s() const {
  if (evaluated_ && !probe_ && !pending_) return 0;  // nothing being measured: windows as they come
  const double clean_from =
      std::max(options_.warmup_s, unchanged_since_start() ? 0.0 : running_since_s_ + options_.transient_s);
  if (now_s_ < clean_from) return clean_from;
  double measured = options_.measure_s;
  // a loss comparison runs whole windows where they count alike (a sliver's loss would weigh as
  // much as a full window's); weighted by their errors, the closing window may be short
  const bool whole_windows = probe_ && probe_->compares_loss &&
                             (!probe_->losses_weighted() || probe_->losses.size() + 1 < probe_->loss_windows_needed());
  if (probe_ && probe_->setting == requested_ && !whole_windows) {
    measured = probe_->measured_s + options_.measure_s - probe_measure_s();
  } else if (!probe_ && requested_ == incumbent_) {
    auto it = sums_.find(incumbent_);
    measured = it == sums_.end() ? 0 : it->second.measured_s;
  }
  return measured < options_.measure_s ? now_s_ + (options_.measure_s - measured) : 0;
}

KnobDecision KnobPolicy::observe(const WindowObservation& w) {
  JOULE_CHECK(std::isfinite(w.seconds) && w.seconds >= 0 && std::isfinite(w.energy_j) && w.energy_j >= 0 &&
                  std::isfinite(w.samples) && w.samples >= 0 && std::isfinite(w.train_seconds) &&
                  std::isfinite(w.job_energy_j) && std::isfinite(w.since_change_s),
              "knob policy: window with negative or non-finite seconds, energy or samples");
  const Setting& ran = w.setting;
  const double now_s = w.train_seconds;
  running_ = ran;
  job_energy_j_ = w.job_energy_j;
  if (std::isfinite(w.noise_scale) && w.noise_scale > 0) {  // exponentially weighted geometric mean
    const double keep = std::exp2(-std::max(w.seconds, 0.0) / options_.noise_half_life_s);
    log_noise_sum_ = keep * log_noise_sum_ + (1 - keep) * std::log(w.noise_scale);
    log_noise_weight_ = keep * log_noise_weight_ + (1 - keep);
    noise_scale_ = log_noise_weight_ > 0 ? std::exp(log_noise_sum_ / log_noise_weight_)
                                         : w.noise_scale;  // only windows of no seconds so far
  }
  if (w.seconds > 0) max_power_w_ = std::max(max_power_w_, w.energy_j / w.seconds);

  if (!(ran == incumbent_)) {  // exploration: energy on another setting beyond the incumbent's for the same samples
    const Sums& inc = sums_[incumbent_];
    const double excess = inc.samples > 0 && inc.measured_s >= options_.measure_s
                              ? std::max(0.0, w.energy_j - inc.energy_j / inc.samples * w.samples)
                              : w.energy_j;  // the incumbent unmeasured: all of it counts
    explore_energy_j_ += excess;
    sums_[ran].explore_j += excess;
  }
  const bool probing = probe_ && ran == probe_->setting;
  if (probing) {
    probe_->energy_j += w.energy_j;
    probe_->seconds += w.seconds;
  }
  const double start_s = now_s - w.seconds;
  now_s_ = now_s;
  running_since_s_ = start_s - w.since_change_s;
  const bool settled = w.since_change_s >= options_.transient_s || unchanged_since_start();
  const bool clean = settled && start_s >= options_.warmup_s && w.seconds > 0 && w.samples > 0;
  const double loss = std::isfinite(w.mean_loss) ? w.mean_loss : kNaN;
  const double loss_var =
      std::isfinite(loss) && loss > 0 && std::isfinite(w.loss_sem) && w.loss_sem > 0 ? std::pow(w.loss_sem / loss, 2) : 0;
  const LossPoint point{ran, now_s - w.seconds / 2, loss, loss_var, start_s >= options_.warmup_s};
  // the loss has no transient: every window of a precision-only profile counts for its comparison
  if (probing && probe_->compares_loss && w.seconds > 0 && w.samples > 0)
    probe_->losses.push_back(point);  // a NaN loss fails the comparison
  if (clean) {
    Sums& s = sums_[ran];
    const double decay = s.measured_s > 0 ? std::exp2(-(now_s - s.updated_s) / options_.measure_half_life_s) : 0;
    s.energy_j = decay * s.energy_j + w.energy_j;
    s.seconds = decay * s.seconds + w.seconds;
    s.samples = decay * s.samples + w.samples;
    s.loss_sum = decay * s.loss_sum + (std::isfinite(loss) ? loss * w.samples : 0);
    s.loss_samples = decay * s.loss_samples + (std::isfinite(loss) ? w.samples : 0);
    s.measured_s += w.seconds;
    s.updated_s = now_s;
    if (probing) probe_->measured_s += w.seconds;
  }
  recent_.push_back(point);
  if (recent_.size() > 8) recent_.erase(recent_.begin());
  if (w.seconds > 0) window_s_ = w.seconds;

  if (now_s < options_.warmup_s) return {};
  if (probe_) {
    if (!probing) {
      probe_.reset();  // the lead ran something else (a fallback): evaluate afresh
    } else if (probe_->measured_s >= probe_measure_s() &&
               (!probe_->compares_loss || probe_->losses.size() >= probe_->loss_windows_needed() ||
                probe_->measured_s >= 4 * options_.measure_s)) {
      if (!probe_->confirming && close_call(now_s)) {
        probe_->confirming = true;  // one window's machine noise must not decide a close call
        return {};
      }
      end_probe(now_s, true);
      return evaluate(now_s, "profile done");
    } else if (explore_energy_j_ > options_.max_explore_fraction * job_energy_j_) {
      end_probe(now_s, false);
      return evaluate(now_s, "exploration budget reached during the profile");
    } else {
      return {};
    }
  }
  const double noise_moved = noise_at_eval_ > 0 && noise_scale_ > 0
                                 ? std::max(noise_scale_ / noise_at_eval_, noise_at_eval_ / noise_scale_)
                                 : 1.0;
  if (options_.reevaluate_noise_ratio > 0 && noise_moved >= options_.reevaluate_noise_ratio)
    return evaluate(now_s, "B_noise moved " + num(noise_at_eval_, "%.0f") + " -> " + num(noise_scale_, "%.0f"));
  if (!evaluated_ || pending_ || now_s - last_eval_s_ >= options_.reevaluate_s || !(ran == requested_))
    return evaluate(now_s, evaluated_ ? "re-evaluation" : "warm-up over");
  return {};
}

// A close call — a candidate gaining less than the hysteresis, or costlier than the incumbent by
// less than confirm_margin — is measured for another measure_s before the verdict: on a shared
// machine one 0.5-s window ran 30% slower than its neighbours (256/bf16 at 1.71 mJ per sample where
// the transient's windows had run at 1.28–1.39), the profile read +12% against 128/bf16 instead of
// about −15%, and the benchmark run stayed at 128/bf16 to the end, at 1.8× the best fixed setting's
// energy. A clear loss (the smaller batch against the noise scale, +60%) ends at once, and so does
// a gain worth a switch.
bool KnobPolicy::close_call(double now_s) const {
  if (!probe_ || !(options_.confirm_margin > 0)) return false;
  const std::vector<Row> table = rows(now_s);
  const Row *candidate = nullptr, *current = nullptr;
  for (const Row& row : table) {
    if (row.setting == probe_->setting) candidate = &row;
    if (row.setting == incumbent_) current = &row;
  }
  return candidate && current && current->cost > 0 && candidate->cost > current->cost * (1 - options_.hysteresis) &&
         candidate->cost < current->cost * (1 + options_.confirm_margin);
}

KnobDecision KnobPolicy::evaluate(double now_s, const std::string& trigger) {
  last_eval_s_ = now_s;
  noise_at_eval_ = noise_scale_;
  evaluated_ = true;
  switched_ = false;
  pending_ = false;
  std::vector<Row> table = rows(now_s);
  auto find = [&](const Setting& s) -> const Row* {
    for (const Row& row : table)
      if (row.setting == s) return &row;
    return nullptr;
  };
  const Row* current = find(incumbent_);
  const char* unit = options_.eta == 1 ? "mJ per effective sample" : "mJ-equivalent per effective sample";
  const std::string bn = noise_scale_ > 0 ? num(noise_scale_, "%.0f") : std::string("unknown");

  // Adopt the best fresh, eligible, feasible setting if it is worth the switch.
  const Row* best = nullptr;
  for (const Row& row : table)
    if (row.fresh && row.eligible && row.feasible && (!best || row.cost < best->cost)) best = &row;
  double gain = 0;
  std::string phase = "keep", reason;
  if (current && best && current->cost > 0) gain = 1 - best->cost / current->cost;
  if (current && best && !(best->setting == incumbent_)) {
    const bool forced = !current->eligible || !current->feasible;
    if (forced || gain >= options_.hysteresis) {
      phase = "switch";
      switched_ = true;
      reason =
          "switch to " + setting_name(best->setting) + ": " + num(1e3 * best->cost, "%.3g") + " vs " +
          num(1e3 * current->cost, "%.3g") + " " + unit + " (" + num(-100 * gain, "%+.0f") + "%" +
          (forced ? std::string(current->eligible ? ", incumbent too slow" : ", incumbent's precision not eligible")
                  : "") +
          "), B_noise " + bn;
      incumbent_ = best->setting;
      current = best;
    } else {
      reason = "keep " + setting_name(incumbent_) + ": best alternative " + setting_name(best->setting) + " " +
               num(-100 * gain, "%+.1f") + "%, below the " + percent(options_.hysteresis) + " hysteresis, B_noise " +
               bn;
    }
  }

  const Setting profiled = just_profiled_.value_or(incumbent_);
  just_profiled_.reset();
  const Row* p = find(profiled);
  if (phase != "switch" && current && p && !(profiled == incumbent_)) {
    auto verdict = verdicts_.find(profiled.precision);
    const bool loss_failed = !p->eligible && verdict != verdicts_.end() && !verdict->second.ok;
    reason = "keep " + setting_name(incumbent_) + " after profiling " + setting_name(profiled) + ": " +
             num(1e3 * p->cost, "%.3g") + " vs " + num(1e3 * current->cost, "%.3g") + " " + unit + " (" +
             num(current->cost > 0 ? 100 * (p->cost / current->cost - 1) : 0, "%+.0f") + "%" +
             (loss_failed ? ", loss " + num(verdict->second.loss) + " vs f32 " + num(verdict->second.reference_loss)
                          : std::string(p->eligible ? "" : ", precision not eligible")) +
             (p->feasible ? "" : ", too slow") + "), B_noise " + bn;
  }

  // The next candidate to profile: stale settings predicted better, then unmeasured or stale neighbours.
  std::vector<Setting> candidates;
  const double inc_power_w = current && current->s_per_sample > 0 ? current->j_per_sample / current->s_per_sample : 0;
  if (current) {
    for (const Row& row : table)
      if (!row.fresh && row.eligible && row.cost <= current->cost * (1 - options_.hysteresis))
        candidates.push_back(row.setting);
    std::sort(candidates.begin(), candidates.end(), [&](const Setting& a, const Setting& b) {
      return find(a)->cost < find(b)->cost || (find(a)->cost == find(b)->cost && a < b);
    });
    // Appends the wanted ones of `neighbours` (of `around`) to the candidates.
    auto consider = [&](const Setting& around, const std::vector<Setting>& neighbours) {
      for (const Setting& n : neighbours) {
        if (std::count(excluded_.begin(), excluded_.end(), n.precision) > 0) continue;
        auto verdict = verdicts_.find(n.precision);
        if (verdict != verdicts_.end() && !verdict->second.ok && now_s - verdict->second.at_s <= options_.stale_s)
          continue;  // failed the loss comparison recently
        const Row* row = find(n);
        // A same-batch precision neighbour is profiled until the loss comparison has a verdict.
        const bool low_pair = (n.precision == kReference) != (around.precision == kReference);
        const std::string& low = n.precision == kReference ? around.precision : n.precision;
        const bool needs_verdict = n.batch == around.batch && low_pair && verdicts_.count(low) == 0 &&
                                   std::count(options_.precisions.begin(), options_.precisions.end(), kReference) > 0;
        // The precision ordering is learned once: a precision costlier than around's at another
        // batch (both measured, by at least the hysteresis) is not profiled again at a new batch.
        bool costlier_elsewhere = false;
        if (!row && !needs_verdict && n.batch == around.batch)
          for (const Row& other : table)
            if (other.setting.precision == n.precision && other.setting.batch != n.batch)
              if (const Row* same = find({other.setting.batch, around.precision}))
                costlier_elsewhere = costlier_elsewhere || other.cost >= same->cost * (1 + options_.hysteresis);
        const bool wanted = (!row && !costlier_elsewhere) || needs_verdict ||
                            (row && !row->fresh && row->cost <= current->cost * (1 + options_.refresh_margin));
        if (wanted && std::count(candidates.begin(), candidates.end(), n) == 0) candidates.push_back(n);
      }
    };
    // The neighbours of `around`: the other precisions at its batch, then the adjacent batch the
    // noise scale favours (larger when B_noise ≥ its batch or unknown); the batch against the noise
    // scale's direction goes to `against_noise`, profiled only after every other candidate.
    // (Profiling the batch first, a precision after each batch move, cost 0.181–0.206 kJ against
    // 0.180–0.183 on controller.sh's job.)
    std::vector<std::pair<Setting, Setting>> against_noise;  // (around, neighbour)
    auto add_neighbours = [&](const Setting& around) {
      std::vector<Setting> neighbours;
      for (const std::string& p : options_.precisions)
        if (p != around.precision) neighbours.push_back({around.batch, p});
      const auto& batches = options_.batches;
      const size_t at = std::find(batches.begin(), batches.end(), around.batch) - batches.begin();
      const bool up_first = !(noise_scale_ > 0) || noise_scale_ >= double(around.batch);
      const bool has_up = at + 1 < batches.size(), has_down = at > 0;
      if (up_first ? has_up : has_down) neighbours.push_back({batches[up_first ? at + 1 : at - 1], around.precision});
      if (up_first ? has_down : has_up)
        against_noise.push_back({around, {batches[up_first ? at - 1 : at + 1], around.precision}});
      consider(around, neighbours);
    };
    add_neighbours(incumbent_);
    // Then past the incumbent's measured neighbourhood: the unmeasured neighbours of every fresh
    // setting within the hysteresis of the incumbent either way (the switch rule cannot tell them
    // apart from it), cheapest first. Without this the climb stops where each single step gains
    // under 5%, however much two steps would gain (128/f32 → 256/f32 −4%, 128/bf16 −2%, while
    // 512/bf16 is −55%), or where a window's noise put a step at +0% (128/bf16 measured level with
    // 128/f32 in one benchmark run, which then stayed at 128/f32 at 2.3× the best fixed energy).
    std::vector<const Row*> promising;
    for (const Row& row : table)
      if (!(row.setting == incumbent_) && row.fresh && row.eligible && row.feasible &&
          row.cost < current->cost * (1 + options_.hysteresis))
        promising.push_back(&row);
    std::sort(promising.begin(), promising.end(), [](const Row* a, const Row* b) {
      return a->cost < b->cost || (a->cost == b->cost && a->setting < b->setting);
    });
    for (const Row* row : promising) add_neighbours(row->setting);
    // Last, the batches against the noise scale's direction (a smaller batch while B_noise ≥ it):
    // the efficiency predicts them worse, and a profile of them cost +30% for nothing.
    for (const auto& [around, n] : against_noise) consider(around, {n});
  }

  std::ostringstream json;
  json << "{\"phase\":\"PHASE\",\"trigger\":" << quoted(trigger)
       << ",\"incumbent\":" << quoted(setting_name(incumbent_)) << ",\"b_noise\":" << num(noise_scale_)
       << ",\"predicted_gain\":" << num(gain) << ",\"explore_energy_j\":" << num(explore_energy_j_)
       << ",\"explore_budget_j\":" << num(options_.max_explore_fraction * job_energy_j_) << ",\"candidates\":[";
  for (size_t i = 0; i < table.size(); ++i) {
    const Row& r = table[i];
    json << (i ? "," : "") << "{\"batch\":" << r.setting.batch << ",\"precision\":" << quoted(r.setting.precision)
         << ",\"j_per_sample\":" << num(r.j_per_sample) << ",\"s_per_sample\":" << num(r.s_per_sample)
         << ",\"efficiency\":" << num(r.efficiency) << ",\"cost\":" << num(r.cost) << ",\"age_s\":" << num(r.age_s)
         << ",\"fresh\":" << (r.fresh ? "true" : "false") << ",\"eligible\":" << (r.eligible ? "true" : "false")
         << ",\"feasible\":" << (r.feasible ? "true" : "false") << "}";
  }
  json << "],\"verdicts\":[";
  bool first = true;
  for (const auto& [precision, v] : verdicts_) {
    json << (first ? "" : ",") << "{\"precision\":" << quoted(precision) << ",\"ok\":" << (v.ok ? "true" : "false")
         << ",\"loss\":" << num(v.loss) << ",\"f32_loss\":" << num(v.reference_loss)
         << ",\"allowed_log_excess\":" << num(v.allowed) << ",\"windows\":" << v.windows
         << ",\"f32_windows\":" << v.reference_windows << ",\"weighted\":" << (v.weighted ? "true" : "false") << "}";
    first = false;
  }
  json << "]}";
  auto finish = [&](const std::string& final_phase) {
    std::string text = json.str();
    text.replace(text.find("PHASE"), 5, final_phase);
    return text;
  };

  if (!current) {  // the incumbent is not measured yet (warm-up just ended, or a fallback)
    pending_ = true;
    return to(incumbent_, "measure " + setting_name(incumbent_) + " before comparing", finish("measure_incumbent"));
  }
  for (const Setting& candidate : candidates) {
    const double estimate_j = probe_estimate_j(inc_power_w);
    if (explore_energy_j_ + estimate_j > options_.max_explore_fraction * job_energy_j_) {
      pending_ = true;
      reason += std::string(reason.empty() ? "" : "; ") + "wait to profile " + setting_name(candidate) + ": explored " +
                percent(job_energy_j_ > 0 ? explore_energy_j_ / job_energy_j_ : 0) + " of " +
                num(job_energy_j_ / 1e3, "%.3g") + " kJ, a profile ≈ " + num(estimate_j, "%.3g") + " J, budget " +
                percent(options_.max_explore_fraction);
      return to(incumbent_, reason, finish(phase == "switch" ? "switch" : "wait_budget"));
    }
    Probe probe;
    probe.setting = candidate;
    probe.incumbent_power_w = inc_power_w;
    if (!recent_.empty()) probe.reference_setting = recent_.back().setting;
    probe.reference = loss_reference();
    // a precision-only change is judged by its loss too: two windows to see the loss's slope
    probe.compares_loss = probe.reference_setting && probe.reference_setting->batch == candidate.batch &&
                          (probe.reference_setting->precision == kReference) != (candidate.precision == kReference);
    probe_ = std::move(probe);
    reason += std::string(reason.empty() ? "" : "; ") + "profile batch " + std::to_string(candidate.batch) + " " +
              candidate.precision + " (explored " + percent(job_energy_j_ > 0 ? explore_energy_j_ / job_energy_j_ : 0) +
              " of " + num(job_energy_j_ / 1e3, "%.3g") + " kJ)";
    return to(candidate, reason, finish("profile"));
  }
  if (reason.empty())
    reason = "keep " + setting_name(incumbent_) + ": " + num(1e3 * current->cost, "%.3g") + " " + unit +
             ", no better measured setting, B_noise " + bn;
  return to(incumbent_, reason, finish(phase == "switch" ? "switch" : (running_ == incumbent_ ? "keep" : "return")));
}

}  // namespace joule::energy
