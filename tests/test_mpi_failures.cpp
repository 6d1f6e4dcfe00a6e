// Multi-rank jobs end to end: joule-train on 2 ranks under mpirun writes the run directory (rank
// logs with energy, summary, TensorBoard events) and joule-report reads it; with one rank made to
// fail through JOULE_FAULT (distributed/fault_injection.h), whatever fails, the whole job must end
// with a non-zero status, name the failing rank instead of hanging, and leave only complete lines.
//
// Every command is bounded by `timeout 90` so a broken build cannot hang CI; the 60 s asserted
// around it is a bound on hanging (a healthy failure ends in a few seconds), not a speed check.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "core/build_info.h"
#include "core/proto/records.pb.h"
#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule::testing {
namespace {

namespace fs = std::filesystem;

constexpr double kHangBoundSeconds = 60;

struct Outcome {
  CommandResult result;
  double seconds = 0;
};

class MpiFailures : public ::testing::Test {
 protected:
  void SetUp() override {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
    GTEST_SKIP() << "built without MPI";
#else
    dir_ = make_temp_dir("joule-mpi-failures");
    files_ = write_synthetic_dataset(dir_ + "/data", 600, 200, 5);
    // 20 steps per epoch: ~1000 steps, so a fault at step 3 strikes mid-run
    std::ostringstream text;
    text << "run { name: \"r\" seed: 3 threads: 1 }\n"
         << "data { train_images: \"" << files_.train_images << "\" train_labels: \"" << files_.train_labels
         << "\" test_images: \"" << files_.test_images << "\" test_labels: \"" << files_.test_labels << "\" }\n"
         << "model { mlp { hidden: 32 } }\n"
         << "train { batch_size: 30 epochs: 50 log_every_steps: 10 }\n";
    config_ = dir_ + "/cfg.pbtxt";
    std::ofstream(config_) << text.str();
#endif
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  // joule-train on 2 ranks with JOULE_FAULT=fault (none when empty) and extra arguments.
  Outcome train(const std::string& fault, const std::string& args = "") {
    Outcome outcome;
#ifdef JOULE_MPIEXEC
    const std::string command =
        "JOULE_FAULT=" + shell_quote(fault) + " timeout -k 5 90 " + shell_quote(JOULE_MPIEXEC) +
        " --allow-run-as-root --oversubscribe -np 2 -x JOULE_FAULT " + shell_quote(binary_path("joule-train")) +
        " --config " + shell_quote(config_) + " --output " + shell_quote(dir_ + "/runs-" + std::to_string(++runs_)) +
        " " + args;
    const auto start = std::chrono::steady_clock::now();
    outcome.result = run_command(command);
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#else
    (void)fault;
    (void)args;
#endif
    return outcome;
  }

  static void expect_contains(const Outcome& o, const std::string& needle) {
    EXPECT_NE(o.result.output.find(needle), std::string::npos) << "no '" << needle << "' in:\n" << o.result.output;
  }
  static void expect_ended_job(const Outcome& o) {
    EXPECT_NE(o.result.status, 0) << o.result.output;
    EXPECT_NE(o.result.status, 124) << "timed out: the job hung\n" << o.result.output;
    EXPECT_LT(o.seconds, kHangBoundSeconds) << o.result.output;
  }

  // Parses every line of every rank log of run directory `run`; returns the windows per rank.
  static std::vector<std::vector<pb::RankWindowRecord>> rank_logs(const std::string& run, int ranks) {
    std::vector<std::vector<pb::RankWindowRecord>> logs(static_cast<size_t>(ranks));
    for (int r = 0; r < ranks; ++r) {
      char name[32];
      std::snprintf(name, sizeof name, "/rank-%05d.jsonl", r);
      const std::string text = read_file(run + name);
      EXPECT_FALSE(text.empty()) << run + name;
      EXPECT_TRUE(text.empty() || text.back() == '\n') << run + name << ": a torn last line";
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        pb::RankWindowRecord record;
        EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << run + name << ": " << line;
        logs[static_cast<size_t>(r)].push_back(record);
      }
    }
    return logs;
  }

  std::string dir_, config_;
  SyntheticFiles files_;
  int runs_ = 0;
};

TEST_F(MpiFailures, TwoRankRunWritesRankLogsSummaryEventsAndReport) {
  const Outcome o = train("", "--set train.epochs=2 --set energy.window_s=0.01");
  ASSERT_EQ(o.result.status, 0) << o.result.output;
  const std::string run = dir_ + "/runs-1/r";
  pb::Summary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(run + "/summary.json"), &summary).ok());
  EXPECT_EQ(summary.world_size(), 2u);
  ASSERT_EQ(summary.energy_j_per_rank_size(), 2);
  EXPECT_NEAR(summary.energy_j(), summary.energy_j_per_rank(0) + summary.energy_j_per_rank(1), 1e-9);
  EXPECT_GT(summary.energy_j_per_rank(1), 0);
  const auto logs = rank_logs(run, 2);
  for (int r = 0; r < 2; ++r) {
    double windows_j = 0;
    for (const pb::RankWindowRecord& w : logs[static_cast<size_t>(r)]) {
      EXPECT_EQ(w.rank(), static_cast<uint32_t>(r));
      windows_j += w.energy_j().total();
    }
    // windows sum to the rank's total (the summary's figure) within 1%
    EXPECT_NEAR(windows_j, summary.energy_j_per_rank(r), 0.01 * summary.energy_j_per_rank(r)) << "rank " << r;
  }
  bool events = false;
  for (const auto& entry : fs::directory_iterator(run))
    events |= entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(events) << "no TensorBoard event file in " << run;
  const CommandResult report = run_command(shell_quote(binary_path("joule-report")) + " " + shell_quote(run));
  EXPECT_EQ(report.status, 0) << report.output;
  EXPECT_NE(report.output.find("total  2 ranks"), std::string::npos) << report.output;
}

// Every rank writes whole lines (one write per line, flushed): a SIGKILL leaves no torn line.
TEST_F(MpiFailures, KilledRankLeavesOnlyCompleteLogLines) {
  const Outcome o = train("kill:1:300", "--set energy.window_s=0.001");
  expect_ended_job(o);
  const auto logs = rank_logs(dir_ + "/runs-1/r", 2);
  EXPECT_GE(logs[1].size(), 3u) << "rank 1 logged windows before it was killed";
}

// Every rank must run the same config: a different --set on one rank is refused, naming it.
TEST_F(MpiFailures, DifferentConfigOnOneRankIsRefused) {
#ifdef JOULE_MPIEXEC
  const std::string train = shell_quote(binary_path("joule-train")) + " --config " + shell_quote(config_) +
                            " --output " + shell_quote(dir_ + "/runs-mpmd");
  const std::string command = "timeout -k 5 90 " + shell_quote(JOULE_MPIEXEC) +
                              " --allow-run-as-root --oversubscribe -np 1 " + train + " --set train.epochs=2 : -np 1 " +
                              train + " --set train.epochs=3";
  const CommandResult r = run_command(command);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << r.output;
  EXPECT_NE(r.output.find("ranks 1 run a different config than rank 0"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/runs-mpmd/r")) << "nothing written for invalid input";
#endif
}

// The baseline the faults are measured against: the same job with no fault, and a watchdog short
// enough to catch a false alarm, runs to the end.
TEST_F(MpiFailures, NoFaultRunsToTheEnd) {
  const Outcome o = train("", "--set train.epochs=3 --set distributed.stall_timeout_s=2");
  EXPECT_EQ(o.result.status, 0) << o.result.output;
  EXPECT_EQ(o.result.output.find("ranks not arrived"), std::string::npos) << o.result.output;
}

TEST_F(MpiFailures, ExceptionOnRank1EndsTheJobNamingRank1) {
  const Outcome o = train("throw:1:3");
  expect_ended_job(o);
  expect_contains(o, "(rank 1): error:");
  expect_contains(o, "injected fault");
}

TEST_F(MpiFailures, SigkillOfRank1EndsTheJob) {
  const Outcome o = train("kill:1:3");
  expect_ended_job(o);
}

TEST_F(MpiFailures, StallWatchdogNamesTheMissingRank) {
  const Outcome o = train("sleep:1:3:60", "--set distributed.stall_timeout_s=2");
  expect_ended_job(o);
  EXPECT_LT(o.seconds, 30) << "the watchdog should fire after ~2 s, well before rank 1 wakes up\n" << o.result.output;
  expect_contains(o, "(rank 0): error:");
  expect_contains(o, "ranks not arrived: 1");
  expect_contains(o, "distributed.stall_timeout_s");
}

// Rank 0 is the one that names missing ranks; when it is the stalled one, the others say so.
TEST_F(MpiFailures, StallOfRank0IsReportedByTheOthers) {
  const Outcome o = train("sleep:0:3:60", "--set distributed.stall_timeout_s=2");
  expect_ended_job(o);
  EXPECT_LT(o.seconds, 40) << o.result.output;
  expect_contains(o, "(rank 1): error:");
  expect_contains(o, "rank 0 may be the stalled one");
}

}  // namespace
}  // namespace joule::testing
