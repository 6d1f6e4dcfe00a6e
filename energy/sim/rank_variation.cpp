// RankVariation: per-rank speed factors, thermal drift and jitter from counter-based random numbers.
#include "energy/sim/rank_variation.h"

#include <algorithm>
#include <cmath>

#include "core/rng.h"

namespace joule::sim {
namespace {

double unit_interval(uint32_t hi, uint32_t lo) {  // [0, 1), 53 bits
  return static_cast<double>(((static_cast<uint64_t>(hi) << 32) | lo) >> 11) * 0x1.0p-53;
}

}  // namespace

SimRandom sim_random(uint64_t seed, SimDraw purpose, uint32_t rank, uint64_t step) {
  const uint64_t mixed = splitmix64(seed ^ 0x6a6f756c6573696dull);  // "joulesim": not CounterRng's keys
  const std::array<uint32_t, 2> key{static_cast<uint32_t>(mixed), static_cast<uint32_t>(mixed >> 32)};
  const auto block = [&](uint32_t half) {
    return philox4x32_10({rank, static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32),
                          static_cast<uint32_t>(purpose) << 1 | half},
                         key);
  };
  const std::array<uint32_t, 4> a = block(0), b = block(1);
  SimRandom r;
  r.uniform_a = unit_interval(a[0], a[1]);
  r.uniform_b = unit_interval(a[2], a[3]);
  const double u1 = 1 - unit_interval(b[0], b[1]);  // (0, 1]
  const double u2 = unit_interval(b[2], b[3]);
  r.normal = std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586477 * u2);
  return r;
}

RankVariation::RankVariation(const pb::SimHeterogeneity& h, int ranks, uint64_t seed)
    : factor_(ranks, 1.0),
      drift_(ranks, h.thermal_drift()),
      seed_(seed),
      sigma_(h.jitter_sigma()),
      straggler_probability_(h.straggler_probability()),
      straggler_factor_(h.straggler_factor()),
      tau_s_(h.thermal_tau_s()) {
  const auto slow = static_cast<size_t>(std::llround(h.slow_fraction() * ranks));
  if (slow > 0) {  // the `slow` ranks with the smallest draws (ties: lower rank)
    std::vector<std::pair<double, int>> order(ranks);
    for (int r = 0; r < ranks; ++r)
      order[r] = {sim_random(seed, SimDraw::slow_rank, static_cast<uint32_t>(r), 0).uniform_a, r};
    std::partial_sort(order.begin(), order.begin() + slow, order.end());
    for (size_t i = 0; i < slow; ++i) factor_[order[i].second] = h.slow_factor();
  }
  for (const pb::RankSpeed& s : h.rank_speed()) factor_[s.rank()] = s.factor();
  if (h.thermal_drift() > 0 && h.thermal_spread() > 0)
    for (int r = 0; r < ranks; ++r)
      drift_[r] = h.thermal_drift() *
                  (1 - h.thermal_spread() * sim_random(seed, SimDraw::thermal, static_cast<uint32_t>(r), 0).uniform_a);
}

double RankVariation::drift_progress(double job_time_s) const {
  return tau_s_ > 0 ? 1 - std::exp(-job_time_s / tau_s_) : 0;
}

double RankVariation::jitter(int rank, int64_t step) const {
  if (!has_jitter()) return 1;
  const SimRandom r = sim_random(seed_, SimDraw::jitter, static_cast<uint32_t>(rank), static_cast<uint64_t>(step));
  double j = sigma_ > 0 ? std::exp(sigma_ * r.normal - 0.5 * sigma_ * sigma_) : 1;
  if (r.uniform_a < straggler_probability_) j *= straggler_factor_;
  return j;
}

}  // namespace joule::sim
