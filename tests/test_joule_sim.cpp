// joule-sim end to end (distributed/sim_job.h, examples/joule_sim.cpp): the real energy controller on
// simulated ranks writes a run directory in a run's schema; the same scenario gives the same bits;
// with one straggler the controller lowers the other ranks' clocks and saves energy against
// --baseline at no more than 1% longer simulated time (behaviour of the model, not a timing test);
// joule-report reads the directory; a bad scenario is refused naming the field, writing nothing.
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/proto/records.pb.h"
#include "energy/sim/progress_model.h"
#include "tests/support/command.h"
#include "tests/support/json_lines.h"
#include "tests/support/synthetic_data.h"

namespace {

namespace fs = std::filesystem;
using joule::testing::binary_path;
using joule::testing::read_records;
using joule::testing::run_command;
using joule::testing::shell_quote;

// 8 A100s, rank 0 10% slower: 300 steps of about 0.9 simulated seconds.
const char* kStraggler8 = R"(
name: "straggler_8"
gpu: "a100_sxm.pbtxt"
ranks: 8
steps: 300
global_batch: 64
precision: "bf16"
workload { sample_s: 0.27 reference_batch: 8 batch_half: 1 bf16_speedup: 2.5 gradient_bytes: 2.6e9 }
network { alpha_s: 0.0005 bandwidth_bytes_per_s: 2.0e11 overlap_fraction: 0.7 }
heterogeneity { rank_speed { rank: 0 factor: 0.9090909090909091 } jitter_sigma: 0.01 }
seed: 5
controller { clocks { mode: ADAPT } }
window_s: 2
eval_every_samples: 4096
test_size: 10000
)";

constexpr uint32_t kFmaxMhz = 1410;  // energy/sim/gpus/a100_sxm.pbtxt

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

joule::pb::Summary read_summary(const std::string& run_dir) {
  joule::pb::Summary summary;
  const std::string text = read_text((fs::path(run_dir) / "summary.json").string());
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &summary).ok()) << text;
  return summary;
}

std::string rank_log(const std::string& run_dir, int rank) {
  char name[32];
  std::snprintf(name, sizeof name, "rank-%05d.jsonl", rank);
  return (fs::path(run_dir) / name).string();
}

class JouleSim : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = joule::testing::make_temp_dir("joule-sim");
    scenario_ = (fs::path(root_) / "straggler_8.pbtxt").string();
    std::ofstream(scenario_) << kStraggler8;
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(root_);
  }
  // joule-sim on `scenario` with its runs under <root>/<output>.
  joule::testing::CommandResult sim(const std::string& output, const std::string& extra = "",
                                    const std::string& scenario = "") {
    return run_command(shell_quote(binary_path("joule-sim")) + " --scenario " +
                       shell_quote(scenario.empty() ? scenario_ : scenario) + " --output " +
                       shell_quote(out(output)) + " --quiet " + extra + " 2>&1");
  }
  std::string out(const std::string& output) const { return (fs::path(root_) / output).string(); }
  std::string root_, scenario_;
};

TEST_F(JouleSim, WritesARunDirectoryWhoseEnergyIsTheSumOfTheRankWindows) {
  const auto r = sim("a");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string dir = out("a") + "/straggler_8";
  const joule::pb::Summary s = read_summary(dir);
  EXPECT_EQ(s.world_size(), 8u);
  EXPECT_EQ(s.steps(), 300u);
  EXPECT_EQ(s.stop_reason(), "max_steps");
  ASSERT_EQ(s.sources_size(), 1);
  EXPECT_EQ(s.sources(0), "sim");
  EXPECT_FALSE(s.measured());
  ASSERT_EQ(s.energy_j_per_rank_size(), 8);
  EXPECT_GT(s.final_accuracy(), 0.1);
  EXPECT_GT(s.seconds(), 200.0);  // simulated seconds: 300 steps of ~0.9 s
  double windows_j = 0;
  for (int rank = 0; rank < 8; ++rank) {
    const auto records = read_records<joule::pb::RankWindowRecord>(rank_log(dir, rank), nullptr);
    ASSERT_GT(records.size(), 50u);
    double rank_j = 0;
    for (const auto& w : records) {
      EXPECT_EQ(w.rank(), static_cast<uint32_t>(rank));
      ASSERT_EQ(w.sources_size(), 1);
      EXPECT_EQ(w.sources(0), "sim");
      const auto& p = w.phase_energy_j();
      EXPECT_NEAR(p.forward() + p.backward() + p.comm_wait(), w.energy_j().total(), 1e-9 * w.energy_j().total());
      rank_j += w.energy_j().total();
    }
    EXPECT_NEAR(rank_j, s.energy_j_per_rank(rank), 1e-9 * rank_j);
    EXPECT_EQ(records.back().step_last(), 300u);
    windows_j += rank_j;
  }
  EXPECT_NEAR(windows_j, s.energy_j(), 1e-9 * windows_j);
  const auto evals = read_records<joule::pb::EvalRecord>(dir + "/metrics.jsonl", "eval");
  ASSERT_GE(evals.size(), 4u);  // every 4096 samples = 64 steps, and the closing one
  EXPECT_EQ(evals.back().step(), 300u);
  EXPECT_DOUBLE_EQ(evals.back().accuracy(), s.final_accuracy());
  EXPECT_FALSE(read_records<joule::pb::TrainRecord>(dir + "/metrics.jsonl", "train").empty());
  EXPECT_EQ(read_records<joule::pb::DecisionRecord>(dir + "/metrics.jsonl", "decision").size(),
            s.controller_decisions());

  const auto report = run_command(shell_quote(binary_path("joule-report")) + " " + shell_quote(dir) + " 2>&1");
  EXPECT_EQ(report.status, 0) << report.output;
  EXPECT_NE(report.output.find("straggler_8"), std::string::npos) << report.output;
  const auto json = run_command(shell_quote(binary_path("joule-report")) + " " + shell_quote(dir) + " --json");
  EXPECT_EQ(json.status, 0) << json.output;
}

TEST_F(JouleSim, IsDeterministic) {
  ASSERT_EQ(sim("a").status, 0);
  ASSERT_EQ(sim("b").status, 0);
  EXPECT_EQ(read_text(out("a") + "/straggler_8/summary.json"), read_text(out("b") + "/straggler_8/summary.json"));
  EXPECT_EQ(read_text(rank_log(out("a") + "/straggler_8", 3)), read_text(rank_log(out("b") + "/straggler_8", 3)));
}

TEST_F(JouleSim, LowersTheClocksBesideAStragglerAndSavesEnergyAgainstTheBaseline) {
  ASSERT_EQ(sim("runs").status, 0);
  const auto base = sim("runs", "--baseline");
  ASSERT_EQ(base.status, 0) << base.output;
  const std::string dir = out("runs") + "/straggler_8";
  const joule::pb::Summary adapted = read_summary(dir), baseline = read_summary(dir + "-baseline");
  // the straggler keeps f_max; every other rank runs below it by the end
  EXPECT_EQ(read_records<joule::pb::RankWindowRecord>(rank_log(dir, 0), nullptr).back().sm_clock_mhz(), kFmaxMhz);
  for (int rank = 1; rank < 8; ++rank)
    EXPECT_LT(read_records<joule::pb::RankWindowRecord>(rank_log(dir, rank), nullptr).back().sm_clock_mhz(), kFmaxMhz)
        << "rank " << rank;
  for (int rank = 0; rank < 8; ++rank)
    for (const auto& w : read_records<joule::pb::RankWindowRecord>(rank_log(dir + "-baseline", rank), nullptr))
      ASSERT_EQ(w.sm_clock_mhz(), kFmaxMhz);
  EXPECT_GT(adapted.knob_changes(), 0u);
  EXPECT_EQ(baseline.knob_changes(), 0u);
  EXPECT_EQ(adapted.steps(), baseline.steps());
  const double saved = 1 - adapted.energy_j() / baseline.energy_j();
  const double slower = adapted.seconds() / baseline.seconds() - 1;
  EXPECT_GT(saved, 0.03) << adapted.energy_j() << " J vs baseline " << baseline.energy_j() << " J";
  EXPECT_LE(slower, 0.01) << adapted.seconds() << " s vs baseline " << baseline.seconds() << " s";
}

// The controller sees B_noise as a run measures it: through the trainer's gradient-noise estimator
// fed with the statistics the progress model's noise scale gives, whose smoothing lags the growing
// noise scale. Replayed here with the progress model over the run's batches: every decision's
// b_noise is below the model's value at its step, within 20% of it.
TEST_F(JouleSim, TheControllerSeesTheNoiseScaleThroughTheTrainersEstimator) {
  const auto r = sim("n", "--set controller.batch_size.mode=ADAPT --set controller.batch_size.max=512 "
                          "--set controller.warmup_s=10 --set controller.measure_s=4 --set log_every_steps=1 "
                          "--set progress.noise_scale_samples=5e3");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string dir = out("n") + "/straggler_8";
  joule::pb::SimProgress progress;
  progress.set_noise_scale_samples(5e3);
  joule::sim::ProgressModel model(progress, 64, 5);
  std::vector<double> truth = {model.noise_scale()};  // after k steps
  for (const auto& t : read_records<joule::pb::TrainRecord>(dir + "/metrics.jsonl", "train")) {
    ASSERT_EQ(t.step(), truth.size()) << "a train line per step";
    model.step(t.batch_size());
    truth.push_back(model.noise_scale());
  }
  int seen = 0;
  for (const auto& d : read_records<joule::pb::DecisionRecord>(dir + "/metrics.jsonl", "decision")) {
    const size_t at = d.detail().find("\"b_noise\":");
    if (at == std::string::npos || d.step() >= truth.size()) continue;
    const double b_noise = std::stod(d.detail().substr(at + 10)), model_now = truth[d.step()];
    EXPECT_LT(b_noise, model_now - 0.5) << "step " << d.step() << ": the estimate lags the model";
    EXPECT_GT(b_noise, 0.8 * model_now) << "step " << d.step();
    ++seen;
  }
  EXPECT_GE(seen, 2) << r.output;
}

// Ctrl-C: the job stops after the step running, writes its outputs whole (the closing window, the
// summary with stop_reason interrupted) and exits 3. The signal is sent once the handler is in place
// (SigCgt), to a job far too long to finish first. The process must be joule-sim by then: between
// fork and exec it is the shell, whose SIGINT handler shows in SigCgt too (CI once sent the signal
// there, and joule-sim died of it before installing its own: status 130).
TEST_F(JouleSim, AnInterruptStopsTheJobWithCompleteOutputsAndStatus3) {
  const std::string dir = out("i") + "/straggler_8";
  const std::string command =
      shell_quote(binary_path("joule-sim")) + " --scenario " + shell_quote(scenario_) + " --output " +
      shell_quote(out("i")) + " --quiet --set steps=100000000 >" + shell_quote(out("i.log")) + " 2>&1 & pid=$!; " +
      "for i in $(seq 1 1200); do "
      "[ \"$(cat /proc/$pid/comm 2>/dev/null)\" = joule-sim ] && "
      "[ $(( 0x$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$pid/status 2>/dev/null || echo 0) & 0x2 )) -ne 0 ] && break; "
      "sleep 0.05; done; kill -INT $pid; wait $pid; echo \"status $?\"";
  const auto r = run_command(command);
  EXPECT_NE(r.output.find("status 3"), std::string::npos) << r.output << read_text(out("i.log"));
  EXPECT_NE(read_text(out("i.log")).find("interrupted at step"), std::string::npos) << read_text(out("i.log"));
  const joule::pb::Summary summary = read_summary(dir);
  EXPECT_EQ(summary.stop_reason(), "interrupted");
  EXPECT_GT(summary.steps(), 0u);
  EXPECT_LT(summary.steps(), 100000000u);
  // every rank's log is whole (each line parses), ends at the last step, and its windows add up to
  // the summary's energy
  double total = 0;
  for (int rank = 0; rank < 8; ++rank) {
    const auto records = read_records<joule::pb::RankWindowRecord>(rank_log(dir, rank), nullptr);
    ASSERT_FALSE(records.empty()) << rank;
    EXPECT_EQ(records.back().step_last(), summary.steps()) << rank;
    for (const auto& w : records) total += w.energy_j().total();
  }
  EXPECT_NEAR(total, summary.energy_j(), 1e-9 * summary.energy_j());
}

TEST_F(JouleSim, RefusesABadScenarioNamingTheFieldAndWritesNothing) {
  const std::string bad = (fs::path(root_) / "bad.pbtxt").string();
  std::ofstream(bad) << kStraggler8 << "window_s: -1\n";
  auto r = sim("bad", "", bad);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("bad.pbtxt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("window_s"), std::string::npos) << r.output;
  r = sim("bad", "--set controller.patience=0");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("controller.patience"), std::string::npos) << r.output;
  r = sim("bad", "--set controller.min_gain_per_epoch=1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("controller.min_gain_per_epoch = 1: the simulator has no epochs"), std::string::npos)
      << r.output;
  r = sim("bad", "--set workload.nonsense=1");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("nonsense"), std::string::npos) << r.output;
  r = sim("bad", "--set progress.accuracy_max=1.5");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("progress.accuracy"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out("bad")));
  // an existing run directory is never overwritten
  ASSERT_EQ(sim("again").status, 0);
  r = sim("again");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("exists already"), std::string::npos) << r.output;
}

// The progress model alone: Pollux's efficiency per step, the growing noise scale, the curves, and
// evaluations that depend on (seed, index) only.
TEST(JouleSimProgress, FollowsTheStatedModel) {
  joule::pb::SimProgress p;
  joule::sim::ProgressModel model(p, 64, 9);
  EXPECT_DOUBLE_EQ(model.noise_scale(), 256);
  EXPECT_NEAR(model.accuracy(), 0.1, 1e-12);
  EXPECT_NEAR(model.loss(), 2.3, 1e-12);
  model.step(64);  // the reference batch: one effective sample per sample
  EXPECT_DOUBLE_EQ(model.effective_samples(), 64);
  const double noise = model.noise_scale();
  EXPECT_DOUBLE_EQ(noise, 256 * (1 + 64 / 2e6));
  model.step(1024);  // a large batch is worth less per sample
  EXPECT_NEAR(model.effective_samples(), 64 + 1024 * (noise + 64) / (noise + 1024), 1e-9);
  const double before = model.accuracy();
  for (int i = 0; i < 100; ++i) model.step(256);
  EXPECT_GT(model.accuracy(), before);
  EXPECT_LT(model.accuracy(), 0.9);
  const double a = model.measured_accuracy(10000, 3);
  EXPECT_EQ(a, model.measured_accuracy(10000, 3));
  EXPECT_NE(a, model.measured_accuracy(10000, 4));
  EXPECT_NEAR(a, model.accuracy(), 5 * std::sqrt(0.25 / 10000));
  EXPECT_DOUBLE_EQ(std::round(a * 10000), a * 10000);  // k / test_size
}

}  // namespace
