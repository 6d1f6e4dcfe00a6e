// The simulator's data-parallel job model (energy/sim/cluster_model.h, rank_variation.h,
// scenario.h): determinism of the seeded variation, the step's timeline (compute, wait at the
// all-reduce, exposed communication), energy as the sum of power × time pieces, the power cap,
// the slack a waiting rank has (what the clock controller will exploit), the scenario files and
// the refusal of bad scenarios. Every expectation is computed from the model's inputs with
// GpuModel's own functions; tolerances are relative 1e-12 where the test repeats the model's
// arithmetic in another order, exact where it must be the same bits.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "core/file_util.h"
#include "energy/sim/cluster_model.h"
#include "energy/sim/scenario.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"
#include "tests/support/synthetic_gpu.h"

namespace joule::sim {
namespace {

using joule::testing::synthetic;

using joule::testing::expect_invalid_input;

const std::string kSource = JOULE_SOURCE_DIR;
const std::string kExamples = kSource + "/examples/sim/";


GpuModel a100() { return GpuModel(load_gpu_calibration(kSource + "/energy/sim/gpus/a100_sxm.pbtxt")); }

pb::SimScenario scenario(int ranks) {
  pb::SimScenario s;
  s.set_name("test");
  s.set_gpu("synthetic");
  s.set_ranks(ranks);
  s.set_steps(10);
  s.set_global_batch(8 * ranks);
  s.set_precision("f32");
  pb::SimWorkload* w = s.mutable_workload();
  w->set_sample_s(0.05);
  w->set_reference_batch(8);
  w->set_batch_half(2);
  w->set_bf16_speedup(2);
  w->set_forward_fraction(0.3);
  w->set_gradient_bytes(1e9);
  pb::SimNetwork* n = s.mutable_network();
  n->set_alpha_s(0.001);
  n->set_bandwidth_bytes_per_s(1e11);
  n->set_overlap_fraction(0.5);
  return s;
}

void set_speed(pb::SimScenario& s, int rank, double factor) {
  pb::RankSpeed* r = s.mutable_heterogeneity()->add_rank_speed();
  r->set_rank(rank);
  r->set_factor(factor);
}

// forward and backward seconds of a rank at speed 1 without jitter, at clock f (the model's inputs).
struct Phases {
  double forward, backward;
  double compute() const { return forward + backward; }
};
Phases phases(const pb::SimScenario& s, const GpuModel& gpu, double f, double speed = 1) {
  const double nominal = nominal_compute_s(s.workload(), s.global_batch() / s.ranks(),
                                           sim_precision_from_name(s.precision(), "", "precision"));
  const double ff = s.workload().forward_fraction();
  return {nominal * ff * gpu.step_time_factor(f, StepPhase::forward) / speed,
          nominal * (1 - ff) * gpu.step_time_factor(f, StepPhase::backward) / speed};
}

void expect_rel(double actual, double expected, const char* what) {
  EXPECT_NEAR(actual, expected, 1e-12 * std::fabs(expected) + 1e-300) << what;
}

// ---- workload and network formulas ------------------------------------------------------------

TEST(SimCluster, NominalComputeFollowsTheBatchCurveAndPrecision) {
  const pb::SimWorkload w = scenario(1).workload();  // sample_s 0.05, reference 8, batch_half 2
  expect_rel(nominal_compute_s(w, 8, SimPrecision::f32), 0.05 * 8, "at the reference batch: sample_s per sample");
  expect_rel(nominal_compute_s(w, 4, SimPrecision::f32), 0.05 * (8.0 / 10) * 4 / (4.0 / 6),
             "util(b) = b/(b + 2): t = sample_s' · b / util(b)");
  expect_rel(nominal_compute_s(w, 8, SimPrecision::bf16), 0.05 * 8 / 2, "bf16_speedup 2");
}

TEST(SimCluster, RingAllReduceTimeAndNoCommunicationOnOneRank) {
  for (int n : {1, 2, 8, 64}) {
    pb::SimScenario s = scenario(n);
    s.mutable_network()->set_overlap_fraction(0);
    const pb::SimNetwork& net = s.network();
    const double expected = n == 1 ? 0 : net.alpha_s() + 1e9 * 2.0 * (n - 1) / n / net.bandwidth_bytes_per_s();
    expect_rel(ring_all_reduce_s(net, 1e9, n), expected, "ring formula");
    ClusterModel model(s, GpuModel(synthetic(0)));
    const StepResult& r = model.step(std::vector<double>(n, 1500));
    expect_rel(r.comm_total_s, expected, "step's all-reduce");
    EXPECT_EQ(r.comm_exposed_s, r.comm_total_s) << "overlap 0: all of it exposed";
    expect_rel(r.wall_s, phases(s, model.gpu(), 1500).compute() + expected, "wall = compute + comm");
    if (n == 1) {
      EXPECT_EQ(r.wall_s, r.ranks[0].compute_s);
    }
  }
}

// ---- the step's timeline -----------------------------------------------------------------------

TEST(SimCluster, UniformRanksAtEqualClocksDoNotWait) {
  const pb::SimScenario s = scenario(4);
  ClusterModel model(s, GpuModel(synthetic(0)));
  const StepResult& r = model.step(std::vector<double>(4, 1500));
  const Phases p = phases(s, model.gpu(), 1500);
  const double comm = ring_all_reduce_s(s.network(), 1e9, 4);
  const double exposed = comm - std::min(0.5 * comm, p.backward);
  ASSERT_LT(0.5 * comm, p.backward) << "this case: the overlapped half hides entirely";
  for (const RankStep& rank : r.ranks) {
    EXPECT_EQ(rank.wait_s, 0);
    expect_rel(rank.forward_s, p.forward, "forward");
    expect_rel(rank.backward_s, p.backward, "backward");
    expect_rel(rank.comm_s, exposed, "exposed all-reduce");
  }
  expect_rel(r.wall_s, p.compute() + exposed, "wall = compute + non-overlapped comm");
  expect_rel(r.end_s, r.wall_s, "job clock after one step");
}

TEST(SimCluster, OverlapIsHiddenOnlyBehindTheLastBackwardPass) {
  pb::SimScenario s = scenario(4);
  s.mutable_workload()->set_gradient_bytes(1e12);  // an all-reduce far longer than backward
  s.mutable_network()->set_overlap_fraction(1);
  ClusterModel model(s, GpuModel(synthetic(0)));
  const StepResult& r = model.step(std::vector<double>(4, 1500));
  const Phases p = phases(s, model.gpu(), 1500);
  const double comm = ring_all_reduce_s(s.network(), 1e12, 4);
  ASSERT_GT(comm, p.backward);
  expect_rel(r.comm_exposed_s, comm - p.backward, "exposed = comm − backward");
  expect_rel(r.wall_s, p.forward + comm, "the all-reduce starts with backward and ends the step");
}

TEST(SimCluster, OthersWaitExactlyForASlowRank) {
  pb::SimScenario s = scenario(4);
  set_speed(s, 2, 0.9);
  ClusterModel model(s, GpuModel(synthetic(0)));
  const StepResult& r = model.step(std::vector<double>(4, 1800));
  const double fast = phases(s, model.gpu(), 1800).compute(), slow = phases(s, model.gpu(), 1800, 0.9).compute();
  EXPECT_EQ(r.slowest_rank, 2);
  EXPECT_EQ(r.ranks[2].wait_s, 0);
  expect_rel(r.ranks[2].compute_s, slow, "the slow rank's compute");
  for (int i : {0, 1, 3}) {
    expect_rel(r.ranks[i].wait_s, slow - fast, "wait = the slow rank's compute − own");
    expect_rel(r.ranks[i].compute_s + r.ranks[i].wait_s + r.ranks[i].comm_s, r.wall_s, "pieces sum to the wall");
  }
}

// The physics the controller exploits: a waiting rank slowed within its slack costs no time and
// saves energy; slowing the last rank lengthens the step by its extra compute.
TEST(SimCluster, SlowingAWaitingRankWithinItsSlackSavesEnergyWithoutTime) {
  pb::SimScenario s = scenario(4);
  set_speed(s, 0, 0.8);
  const GpuModel gpu = a100();
  const double f_max = gpu.f_max_mhz();
  const double slowest = phases(s, gpu, f_max, 0.8).compute();
  double f_slack = f_max;  // the lowest supported clock at which rank 1 still arrives first
  for (double f : gpu.clocks_mhz())
    if (phases(s, gpu, f).compute() <= slowest) f_slack = std::min(f_slack, f);
  ASSERT_LT(f_slack, f_max - 100) << "the scenario must leave slack";

  ClusterModel base(s, gpu), slack(s, gpu), late(s, gpu);
  const StepResult& b = base.step(std::vector<double>(4, f_max));
  const StepResult& r = slack.step({f_max, f_slack, f_max, f_max});
  EXPECT_EQ(r.wall_s, b.wall_s) << "within the slack the step takes the same time";
  EXPECT_LT(r.ranks[1].energy_j, b.ranks[1].energy_j);
  EXPECT_LT(r.ranks[1].wait_s, b.ranks[1].wait_s);
  EXPECT_EQ(r.ranks[2].energy_j, b.ranks[2].energy_j) << "the other ranks are untouched";

  const double f_low = gpu.clocks_mhz().back();
  const StepResult& l = late.step({f_low, f_max, f_max, f_max});
  const double extra = phases(s, gpu, f_low, 0.8).compute() - slowest;
  ASSERT_GT(extra, 0);
  expect_rel(l.wall_s - b.wall_s, extra, "the step lengthens by the last rank's extra compute");
  for (int i = 1; i < 4; ++i) expect_rel(l.ranks[i].wait_s - b.ranks[i].wait_s, extra, "the others wait longer");
}

// ---- energy ------------------------------------------------------------------------------------

TEST(SimCluster, EnergyIsPowerTimesTimeForEachPieceOnTwoRanks) {
  pb::SimScenario s = scenario(2);
  set_speed(s, 1, 0.85);
  s.mutable_network()->set_overlap_fraction(0.25);
  const GpuModel gpu(synthetic(0));
  ClusterModel model(s, gpu);
  const std::vector<double> clocks{1800, 1200};
  const StepResult& r = model.step(clocks);

  const Phases p0 = phases(s, gpu, 1800), p1 = phases(s, gpu, 1200, 0.85);
  const double slowest = std::max(p0.compute(), p1.compute());
  const Phases& last = p0.compute() >= p1.compute() ? p0 : p1;
  const double comm = ring_all_reduce_s(s.network(), 1e9, 2);
  const double exposed = comm - std::min(0.25 * comm, last.backward);
  const double blocking = gpu.calibration().blocking_power_w();
  const Phases ps[2] = {p0, p1};
  double total = 0;
  for (int i = 0; i < 2; ++i) {
    const double f = clocks[i];
    const double expected = gpu.power_w(f, StepPhase::forward) * ps[i].forward +
                            gpu.power_w(f, StepPhase::backward) * ps[i].backward +
                            blocking * (slowest - ps[i].compute() + exposed);
    expect_rel(r.ranks[i].energy_j, expected, "P_fwd·t_fwd + P_bwd·t_bwd + P_block·(wait + exposed comm)");
    total += expected;
  }
  EXPECT_NE(gpu.power_w(1800, StepPhase::forward), gpu.power_w(1800, StepPhase::backward)) << "phase curves used";
  expect_rel(r.energy_j, total, "step energy over ranks");
  expect_rel(model.totals().energy_j, total, "totals after one step");
  expect_rel(model.totals().energy_j_per_rank[1], r.ranks[1].energy_j, "per-rank totals");
}

TEST(SimCluster, PowerCapBindsAtTheTopClocks) {
  const pb::SimScenario s = scenario(1);
  const GpuModel capped(synthetic(300));
  const double top = std::max(capped.effective_clock_mhz(2000, StepPhase::forward),
                              capped.effective_clock_mhz(2000, StepPhase::backward));
  ASSERT_LT(top, 1900) << "both phases capped below 1900 MHz";
  ClusterModel at_max(s, capped), below_max(s, capped), uncapped(s, GpuModel(synthetic(0)));
  const RankStep a = at_max.step({2000}).ranks[0];
  const RankStep b = below_max.step({1900}).ranks[0];
  EXPECT_EQ(a.compute_s, b.compute_s) << "above the capped clock time is flat";
  EXPECT_EQ(a.energy_j, b.energy_j);
  expect_rel(a.compute_s, nominal_compute_s(s.workload(), 8, SimPrecision::f32), "f_max: the nominal time");
  expect_rel(a.energy_j, 300 * a.compute_s, "one rank, no comm: the cap's power throughout");
  const RankStep u = uncapped.step({2000}).ranks[0];
  EXPECT_GT(u.energy_j / u.compute_s, 300) << "without the cap the top draws more";
}

// ---- heterogeneity and determinism -------------------------------------------------------------

pb::SimScenario noisy_scenario(int ranks, uint64_t seed) {
  pb::SimScenario s = scenario(ranks);
  s.set_seed(seed);
  pb::SimHeterogeneity* h = s.mutable_heterogeneity();
  h->set_slow_fraction(0.25);
  h->set_slow_factor(0.9);
  h->set_jitter_sigma(0.05);
  h->set_straggler_probability(0.1);
  h->set_straggler_factor(1.5);
  h->set_thermal_drift(0.05);
  h->set_thermal_spread(0.5);
  h->set_thermal_tau_s(2);
  return s;
}

std::vector<StepResult> run(const pb::SimScenario& s, int steps) {
  ClusterModel model(s, GpuModel(synthetic(250)));
  std::vector<StepResult> out;
  std::vector<double> clocks(s.ranks());
  for (int k = 0; k < steps; ++k) {
    for (int i = 0; i < s.ranks(); ++i) clocks[i] = 1000 + 37.0 * ((i + k) % 27);
    out.push_back(model.step(clocks));
  }
  return out;
}

TEST(SimCluster, SameScenarioAndSeedGiveIdenticalBitsAndAnotherSeedDiffers) {
  const auto a = run(noisy_scenario(16, 7), 20), b = run(noisy_scenario(16, 7), 20), c = run(noisy_scenario(16, 8), 20);
  int differ = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].wall_s, b[k].wall_s);
    EXPECT_EQ(a[k].end_s, b[k].end_s);
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(a[k].ranks[i].compute_s, b[k].ranks[i].compute_s);
      EXPECT_EQ(a[k].ranks[i].wait_s, b[k].ranks[i].wait_s);
      EXPECT_EQ(a[k].ranks[i].energy_j, b[k].ranks[i].energy_j);
      differ += a[k].ranks[i].compute_s != c[k].ranks[i].compute_s;
    }
  }
  EXPECT_GT(differ, 16 * 20 * 9 / 10) << "another seed: other jitter almost everywhere";
}

TEST(SimCluster, JitterIsAFunctionOfSeedRankAndStepOnly) {
  const pb::SimScenario small = noisy_scenario(4, 3), large = noisy_scenario(64, 3);
  const RankVariation vs(small.heterogeneity(), 4, 3), vl(large.heterogeneity(), 64, 3);
  for (int64_t k : {int64_t{9}, int64_t{0}, int64_t{1} << 40, int64_t{5}})  // any order, any step
    for (int r = 3; r >= 0; --r) EXPECT_EQ(vs.jitter(r, k), vl.jitter(r, k)) << "rank " << r << " step " << k;
  EXPECT_NE(vs.jitter(0, 1), vs.jitter(1, 1));
  EXPECT_NE(vs.jitter(0, 1), vs.jitter(0, 2));
}

TEST(SimCluster, JitterIsLognormalWithMeanOne) {
  pb::SimHeterogeneity h;
  h.set_jitter_sigma(0.1);
  const RankVariation v(h, 8, 11);
  double sum = 0, sum_log = 0, sum_log2 = 0;
  const int draws = 40000;
  for (int k = 0; k < draws / 8; ++k)
    for (int r = 0; r < 8; ++r) {
      const double j = v.jitter(r, k);
      sum += j;
      sum_log += std::log(j);
      sum_log2 += std::log(j) * std::log(j);
    }
  const double mean_log = sum_log / draws;
  // standard errors: 0.1/√40000 = 5e-4 for the mean; the bounds are 6 of them
  EXPECT_NEAR(sum / draws, 1, 3e-3);
  EXPECT_NEAR(mean_log, -0.005, 3e-3);  // −σ²/2
  EXPECT_NEAR(std::sqrt(sum_log2 / draws - mean_log * mean_log), 0.1, 3e-3);
}

TEST(SimCluster, SlowFractionOverridesAndThermalDrift) {
  pb::SimScenario s = noisy_scenario(40, 5);
  set_speed(s, 3, 0.5);
  const pb::SimHeterogeneity& h = s.heterogeneity();
  const RankVariation v(h, 40, 5);
  int slow = 0;
  for (int r = 0; r < 40; ++r) {
    if (r != 3) {
      slow += v.factor(r) == 0.9;
      EXPECT_TRUE(v.factor(r) == 0.9 || v.factor(r) == 1) << r;
    }
    EXPECT_LE(v.drift(r), 0.05);
    EXPECT_GE(v.drift(r), 0.05 * (1 - 0.5));
  }
  EXPECT_EQ(v.factor(3), 0.5) << "the override wins";
  EXPECT_GE(slow, 9);  // round(0.25·40) = 10 chosen, rank 3 perhaps among them
  EXPECT_LE(slow, 10);
  EXPECT_NE(v.drift(0), v.drift(1)) << "spread 0.5: each rank its own drift";

  // one rank, drift only: compute_k = nominal / (1 − drift·(1 − exp(−t_k/τ))), t_k the step's start
  pb::SimScenario one = scenario(1);
  one.mutable_heterogeneity()->set_thermal_drift(0.2);
  one.mutable_heterogeneity()->set_thermal_tau_s(1.5);
  ClusterModel model(one, GpuModel(synthetic(0)));
  const double nominal = nominal_compute_s(one.workload(), 8, SimPrecision::f32);
  for (int k = 0; k < 12; ++k) {
    const StepResult& r = model.step({2000});
    expect_rel(r.ranks[0].compute_s, nominal / (1 - 0.2 * (1 - std::exp(-r.start_s / 1.5))), "drifted speed");
  }
  EXPECT_GT(model.totals().compute_s_per_rank[0], 12 * nominal) << "drift only slows";
}

TEST(SimCluster, UnevenBatchGivesTheFirstRanksOneMoreSample) {
  const pb::SimScenario s = scenario(4);
  ClusterModel model(s, GpuModel(synthetic(0)));
  const StepResult& r = model.step(std::vector<double>(4, 2000), 4 * 8 + 2, "bf16");
  const double nine = nominal_compute_s(s.workload(), 9, SimPrecision::bf16);
  const double eight = nominal_compute_s(s.workload(), 8, SimPrecision::bf16);
  expect_rel(r.ranks[0].compute_s, nine, "rank 0: 9 samples");
  expect_rel(r.ranks[1].compute_s, nine, "rank 1: 9 samples");
  expect_rel(r.ranks[2].compute_s, eight, "rank 2: 8 samples");
  expect_rel(r.ranks[3].wait_s, nine - eight, "waits for the larger share");
}

// ---- scale: 4096 ranks × 1000 steps (printed; tests never assert on time) ----------------------

TEST(SimCluster, FourThousandRanksForAThousandStepsKeepConsistentTotals) {
  pb::SimScenario s = noisy_scenario(4096, 1);
  s.set_steps(1000);
  ClusterModel model(s, a100());
  std::vector<double> clocks(4096, model.gpu().f_max_mhz());
  double wall = 0, energy = 0;
  const auto start = std::chrono::steady_clock::now();
  while (!model.finished()) {
    const StepResult& r = model.step(clocks);
    wall += r.wall_s;
    energy += r.energy_j;
    clocks[r.step % 4096] = 1200;  // the clocks change over the run
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[sim] 4096 ranks x 1000 steps: %.2f s on one core (%.0f ns per rank-step)\n", elapsed,
              elapsed / 4096e3 * 1e9);
  EXPECT_EQ(model.steps_done(), 1000);
  EXPECT_EQ(model.job_time_s(), wall) << "the job clock is the sum of the walls, in order";
  const auto& per_rank = model.totals().energy_j_per_rank;
  expect_rel(std::accumulate(per_rank.begin(), per_rank.end(), 0.0), model.totals().energy_j, "energy per rank");
  EXPECT_NEAR(model.totals().energy_j, energy, 1e-9 * energy);
}

// ---- scenario files and refusals ---------------------------------------------------------------

TEST(SimScenario, ExampleFilesLoadAndBehaveAsTheirCommentsSay) {
  {
    LoadedScenario u = load_scenario_with_gpu(kExamples + "uniform_8.pbtxt");
    EXPECT_EQ(u.scenario.ranks(), 8);
    EXPECT_EQ(u.gpu.calibration().name(), "A100-SXM4-80GB");
    ClusterModel model(u.scenario, u.gpu, kExamples + "uniform_8.pbtxt");
    const StepResult& r = model.step(std::vector<double>(8, u.gpu.f_max_mhz()));
    for (const RankStep& rank : r.ranks) EXPECT_EQ(rank.wait_s, 0);
  }
  LoadedScenario st = load_scenario_with_gpu(kExamples + "straggler_64.pbtxt");
  EXPECT_EQ(st.scenario.ranks(), 64);
  ClusterModel model(st.scenario, st.gpu, kExamples + "straggler_64.pbtxt");
  EXPECT_NEAR(model.variation().factor(0), 1 / 1.1, 1e-15);
  for (int k = 0; k < 5; ++k) {
    const StepResult& r = model.step(std::vector<double>(64, st.gpu.f_max_mhz()));
    EXPECT_EQ(r.slowest_rank, 0);
    EXPECT_NEAR(r.ranks[0].compute_s / r.ranks[1].compute_s, 1.1, 0.1) << "1/1.1 speed, jitter σ 0.01";
    EXPECT_GT(r.ranks[1].wait_s, 0);
  }
}

TEST(SimScenario, GpuIsFoundNextToTheScenarioFirst) {
  joule::testing::TempDir dir;
  const std::string calibration = format_gpu_calibration(synthetic(0));
  write_file_atomic(dir.file("mine.pbtxt"), calibration);
  pb::SimScenario s = scenario(2);
  s.set_gpu("mine.pbtxt");
  EXPECT_EQ(resolve_gpu_calibration_path(s, dir.file("job.pbtxt")), dir.file("mine.pbtxt"));
  s.set_gpu("a100_sxm.pbtxt");
  EXPECT_EQ(resolve_gpu_calibration_path(s, dir.file("job.pbtxt")),
            (std::filesystem::path(default_gpu_calibration_dir()) / "a100_sxm.pbtxt").string());
  s.set_gpu("nowhere.pbtxt");
  expect_invalid_input([&] { resolve_gpu_calibration_path(s, dir.file("job.pbtxt")); },
                       {"job.pbtxt", "gpu:", "nowhere.pbtxt"});
}

TEST(SimScenario, BadScenariosAreRefusedNamingTheField) {
  const GpuModel gpu(synthetic(0));
  const auto refused = [&](const std::function<void(pb::SimScenario&)>& change, std::vector<std::string> parts) {
    pb::SimScenario s = scenario(4);
    change(s);
    parts.insert(parts.begin(), "bad.pbtxt");
    expect_invalid_input([&] { ClusterModel(s, gpu, "bad.pbtxt"); }, parts);
  };
  refused([](auto& s) { s.set_ranks(0); }, {"ranks:", "[1, 65536]", "got 0"});
  refused([](auto& s) { s.set_ranks(70000); }, {"ranks:", "70000"});
  refused([](auto& s) { s.clear_gpu(); }, {"gpu: missing"});
  refused([](auto& s) { s.mutable_network()->set_overlap_fraction(1.5); }, {"network.overlap_fraction", "1.5"});
  refused([](auto& s) { s.mutable_network()->set_overlap_fraction(-0.1); }, {"network.overlap_fraction"});
  refused([](auto& s) { s.set_precision("fp16"); }, {"precision:", "fp16"});
  refused([](auto& s) { s.set_global_batch(3); }, {"global_batch:", "below ranks"});
  refused([](auto& s) { s.clear_steps(); }, {"steps: missing"});
  refused([](auto& s) { s.mutable_workload()->clear_sample_s(); }, {"workload.sample_s: missing"});
  refused([](auto& s) { s.mutable_workload()->set_forward_fraction(1); }, {"workload.forward_fraction"});
  refused([](auto& s) { s.clear_network(); }, {"network: missing"});
  refused([](auto& s) { set_speed(s, 4, 0.9); }, {"heterogeneity.rank_speed[0].rank", "got 4"});
  refused([](auto& s) { set_speed(s, 1, 0); }, {"heterogeneity.rank_speed[0].factor"});
  refused([](auto& s) { set_speed(s, 1, 0.9), set_speed(s, 1, 0.8); }, {"rank_speed[1].rank", "twice"});
  refused([](auto& s) { s.mutable_heterogeneity()->set_thermal_drift(0.1); }, {"heterogeneity.thermal_tau_s: missing"});
  refused([](auto& s) { s.mutable_heterogeneity()->set_straggler_factor(0.5); }, {"heterogeneity.straggler_factor"});

  ClusterModel model(scenario(4), gpu);
  expect_invalid_input([&] { model.step(std::vector<double>(4, 1500), 32, "fp8"); }, {"precision", "fp8"});
  expect_invalid_input([&] { model.step(std::vector<double>(3, 1500)); }, {"clock_mhz_per_rank", "4 clocks"});
  expect_invalid_input([&] { model.step(std::vector<double>(4, 1500), 2, "f32"); }, {"batch:", "below ranks"});
  EXPECT_EQ(model.steps_done(), 0) << "a refused step does not advance the job";

  expect_invalid_input([] { parse_sim_scenario("name: \"x\"\nranks: two\n", "text.pbtxt"); }, {"text.pbtxt:2:"});
  expect_invalid_input([] { parse_sim_scenario("name: \"x\"\n", "text.pbtxt"); }, {"text.pbtxt: gpu: missing"});
}

}  // namespace
}  // namespace joule::sim
