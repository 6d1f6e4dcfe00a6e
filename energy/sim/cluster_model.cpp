// ClusterModel: one synchronous data-parallel step at a time (cluster_model.h states the model).
#include "energy/sim/cluster_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace joule::sim {
namespace {

const pb::SimScenario& validated(const pb::SimScenario& scenario, const std::string& origin) {
  validate_sim_scenario(scenario, origin);
  return scenario;
}

}  // namespace

double nominal_compute_s(const pb::SimWorkload& w, int64_t per_rank_batch, SimPrecision precision) {
  const double b = static_cast<double>(per_rank_batch), ref = static_cast<double>(w.reference_batch());
  const double f32_s = w.sample_s() * (b + w.batch_half()) * ref / (ref + w.batch_half());
  return precision == SimPrecision::bf16 ? f32_s / w.bf16_speedup() : f32_s;
}

double ring_all_reduce_s(const pb::SimNetwork& network, double bytes, int ranks) {
  if (ranks <= 1) return 0;
  return network.alpha_s() + bytes * 2 * (ranks - 1) / ranks / network.bandwidth_bytes_per_s();
}

ClusterModel::ClusterModel(const pb::SimScenario& scenario, GpuModel gpu, const std::string& origin)
    : scenario_(validated(scenario, origin)),
      gpu_(std::move(gpu)),
      variation_(scenario_.heterogeneity(), scenario_.ranks(), scenario_.seed()),
      precision_(sim_precision_from_name(scenario_.precision(), origin, "precision")) {
  const auto n = static_cast<size_t>(scenario_.ranks());
  result_.ranks.resize(n);
  totals_.energy_j_per_rank.assign(n, 0);
  totals_.compute_s_per_rank.assign(n, 0);
  totals_.wait_s_per_rank.assign(n, 0);
}

const StepResult& ClusterModel::step(const std::vector<double>& clock_mhz_per_rank) {
  return step(clock_mhz_per_rank, scenario_.global_batch(), scenario_.precision());
}

const StepResult& ClusterModel::step(const std::vector<double>& clocks, int64_t batch, const std::string& precision) {
  const int n = ranks();
  JOULE_CHECK(clocks.size() == static_cast<size_t>(n), "ClusterModel::step: clock_mhz_per_rank: expected ", n,
              " clocks (one per rank), got ", clocks.size());
  JOULE_CHECK(batch >= n, "ClusterModel::step: batch: ", batch, " is below ranks (", n,
              "): every rank needs at least one sample");
  const SimPrecision p =
      precision == scenario_.precision() ? precision_ : sim_precision_from_name(precision, "ClusterModel::step", "precision");
  const pb::SimWorkload& w = scenario_.workload();
  const int64_t base = batch / n, extra = batch % n;  // ranks below `extra` take one more sample
  const double nominal[2] = {nominal_compute_s(w, base, p), nominal_compute_s(w, base + 1, p)};
  const double forward_share = w.forward_fraction(), backward_share = 1 - forward_share;
  const double progress = variation_.drift_progress(totals_.time_s);
  const bool jitter = variation_.has_jitter();
  const int64_t k = totals_.steps;

  StepResult& r = result_;
  r.step = k;
  r.start_s = totals_.time_s;
  r.slowest_rank = 0;
  double slowest = -1;
  for (int i = 0; i < n; ++i) {
    const double f = clocks[i];
    const double scale = nominal[i < extra] * (jitter ? variation_.jitter(i, k) : 1) / variation_.speed(i, progress);
    RankStep& s = r.ranks[i];
    s.forward_s = scale * forward_share * gpu_.step_time_factor(f, StepPhase::forward);
    s.backward_s = scale * backward_share * gpu_.step_time_factor(f, StepPhase::backward);
    s.compute_s = s.forward_s + s.backward_s;
    s.energy_j = gpu_.power_w(f, StepPhase::forward) * s.forward_s + gpu_.power_w(f, StepPhase::backward) * s.backward_s;
    if (s.compute_s > slowest) {
      slowest = s.compute_s;
      r.slowest_rank = i;
    }
  }
  r.comm_total_s = ring_all_reduce_s(scenario_.network(), w.gradient_bytes(), n);
  const double hidden = std::min(scenario_.network().overlap_fraction() * r.comm_total_s, r.ranks[r.slowest_rank].backward_s);
  r.comm_exposed_s = r.comm_total_s - hidden;
  r.wall_s = slowest + r.comm_exposed_s;
  const double blocking_w = gpu_.calibration().blocking_power_w();
  r.energy_j = 0;
  for (int i = 0; i < n; ++i) {
    RankStep& s = r.ranks[i];
    s.wait_s = slowest - s.compute_s;
    s.comm_s = r.comm_exposed_s;
    s.energy_j += blocking_w * (s.wait_s + s.comm_s);
    r.energy_j += s.energy_j;
    totals_.energy_j_per_rank[i] += s.energy_j;
    totals_.compute_s_per_rank[i] += s.compute_s;
    totals_.wait_s_per_rank[i] += s.wait_s;
  }
  totals_.time_s += r.wall_s;
  totals_.energy_j += r.energy_j;
  totals_.steps = k + 1;
  r.end_s = totals_.time_s;
  return r;
}

}  // namespace joule::sim
