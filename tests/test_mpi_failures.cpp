// Failure handling of a multi-rank job, end to end: joule-train on 2 ranks under mpirun with one
// rank made to fail through JOULE_FAULT (distributed/fault_injection.h). Whatever fails, the whole
// job must end with a non-zero status, and name the failing rank, instead of hanging.
//
// Every command is bounded by `timeout 90` so a broken build cannot hang CI; the 60 s asserted
// around it is a bound on hanging (a healthy failure ends in a few seconds), not a speed check.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/build_info.h"
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

  std::string dir_, config_;
  SyntheticFiles files_;
  int runs_ = 0;
};

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
