// The SM-clock knob in joule-train, through the fake NVML (JOULE_NVML_LIBRARY) and its state file
// (FAKE_NVML_STATE_FILE: the locks as the "card" sees them): a scripted schedule locks 1410 MHz
// after step 1. DRY_RUN never calls a setter; APPLY (root: NVML directly) locks and reads back,
// and the clocks are reset however the run ends — normally, by an exception, by SIGTERM, and
// when another rank's failure aborts the job; NO_PERMISSION gives one warning and the run goes on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

namespace fs = std::filesystem;
using testing::binary_path;
using testing::read_file;
using testing::run_command;
using testing::shell_quote;

class ClockKnobRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir("joule-clock-run");
    const testing::SyntheticFiles f = testing::write_synthetic_dataset(dir_ + "/data", 512, 64, 8);
    config_ = dir_ + "/clock.pbtxt";
    std::ofstream(config_) << "run { threads: 1 cpu_math: 'eigen' }\n"
                           << "data { train_images: '" << f.train_images << "' train_labels: '" << f.train_labels
                           << "' test_images: '" << f.test_images << "' test_labels: '" << f.test_labels << "' }\n"
                           << "model { mlp { hidden: 16 } }\n"
                           << "train { batch_size: 64 epochs: 2 }\n"
                           << "energy { window_s: 1e-9 schedule { at_step: 1 sm_clock_mhz: 1410 } }\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // joule-train with the fake NVML; `sets`: extra --set flags; `env`: extra assignments.
  std::string job(const std::string& sets, const std::string& env = "", const std::string& name = "r") const {
    return "JOULE_NVML_LIBRARY=" + shell_quote(JOULE_FAKE_NVML_LIBRARY) + " FAKE_NVML_STATE_FILE=" +
           shell_quote(dir_ + "/state") + " " + env + " " + shell_quote(binary_path("joule-train")) + " --config " +
           shell_quote(config_) + " --output " + shell_quote(dir_ + "/runs") + " --set run.name=" + name +
           " --set energy.clock.gpu=0 " + sets;
  }
  std::string state(const std::string& file = "state") const {
    return fs::exists(dir_ + "/" + file) ? read_file(dir_ + "/" + file) : "";
  }
  std::string dir_, config_;
};

TEST_F(ClockKnobRun, DryRunRecordsTheClockAndCallsNoSetter) {
  const testing::CommandResult r = run_command(job("") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(state(), "") << "no setter call, so the fake never wrote its state file";
  const std::string log = read_file(dir_ + "/runs/r/rank-00000.jsonl");
  EXPECT_NE(log.find("\"sm_clock_mhz\":1410"), std::string::npos) << log.substr(0, 2000);
  EXPECT_NE(r.output.find("dry run"), std::string::npos) << r.output;
}

TEST_F(ClockKnobRun, ApplyLocksReadsBackAndResetsAtTheEnd) {
  if (geteuid() != 0) GTEST_SKIP() << "NVML mode needs root (joule-clockd is tested in test_joule_clockd.cpp)";
  const testing::CommandResult r = run_command(job("--set energy.clock.apply=APPLY") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string s = state();
  EXPECT_NE(s.find("reset 0"), std::string::npos) << s;
  EXPECT_EQ(s.find("locked 0"), std::string::npos) << s;
  const std::string log = read_file(dir_ + "/runs/r/rank-00000.jsonl");
  EXPECT_NE(log.find("\"sm_clock_mhz\":1410"), std::string::npos) << "the lock held during the run";
  EXPECT_NE(log.find("1410"), std::string::npos);
  EXPECT_NE(r.output.find("1410"), std::string::npos) << "the change and its read-back are printed: " << r.output;
}

TEST_F(ClockKnobRun, AnExceptionStillResetsTheClock) {
  if (geteuid() != 0) GTEST_SKIP() << "NVML mode needs root";
  const testing::CommandResult r = run_command(job("--set energy.clock.apply=APPLY", "JOULE_FAULT=throw:0:4") + " 2>&1");
  EXPECT_EQ(r.status, 1) << r.output;
  const std::string s = state();
  EXPECT_NE(s.find("reset 0"), std::string::npos) << s;
  EXPECT_EQ(s.find("locked 0"), std::string::npos) << s;
}

TEST_F(ClockKnobRun, SigtermResetsTheClock) {
  if (geteuid() != 0) GTEST_SKIP() << "NVML mode needs root";
  // a long run, signalled once the fake reports the lock
  const std::string script = "set -m\n" + job("--set energy.clock.apply=APPLY --set train.epochs=100000") + " > " +
                             dir_ + "/job.log 2>&1 &\npid=$!\n"
                             "i=0; until grep -q '^locked 0' " + dir_ + "/state 2>/dev/null; do i=$((i+1)); "
                             "[ $i -gt 600 ] && break; sleep 0.05; done\n"
                             "kill -TERM $pid\nwait $pid; echo \"status=$?\"\n";
  const testing::CommandResult r = run_command(script);
  EXPECT_NE(r.output.find("status=3"), std::string::npos) << r.output << read_file(dir_ + "/job.log");
  const std::string s = state();
  EXPECT_NE(s.find("reset 0"), std::string::npos) << s;
  EXPECT_EQ(s.find("locked 0"), std::string::npos) << s;
}

TEST_F(ClockKnobRun, NoPermissionWarnsOnceAndTheRunCompletes) {
  if (geteuid() != 0) GTEST_SKIP() << "NVML mode needs root";
  const testing::CommandResult r =
      run_command(job("--set energy.clock.apply=APPLY", "FAKE_NVML_FAIL=no_permission") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  size_t warnings = 0;  // about the clock knob (RAPL may warn too)
  for (size_t at = r.output.find("clock knob"); at != std::string::npos; at = r.output.find("clock knob", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1u) << r.output;
  EXPECT_EQ(state().find("locked"), std::string::npos) << "nothing was locked";
  EXPECT_NE(r.output.find("ermission"), std::string::npos) << r.output;
}

#ifdef JOULE_MPIEXEC
TEST_F(ClockKnobRun, AnAbortCausedByAnotherRankResetsThisRanksClock) {
  if (geteuid() != 0) GTEST_SKIP() << "NVML mode needs root";
  // one fake GPU per rank ("local"), one state file per rank; rank 1 fails at step 6
  const std::string rank_job =
      "FAKE_NVML_STATE_FILE=" + dir_ + "/state-$OMPI_COMM_WORLD_RANK exec " + shell_quote(binary_path("joule-train")) +
      " --config " + shell_quote(config_) + " --output " + shell_quote(dir_ + "/runs") +
      " --set run.name=abort --set energy.clock.gpu=local --set energy.clock.apply=APPLY --set train.epochs=50";
  const std::string command = "JOULE_NVML_LIBRARY=" + shell_quote(JOULE_FAKE_NVML_LIBRARY) +
                              " FAKE_NVML_DEVICES=2 JOULE_FAULT=throw:1:6 " + std::string(JOULE_MPIEXEC) +
                              " --allow-run-as-root --oversubscribe -np 2 -x JOULE_NVML_LIBRARY -x FAKE_NVML_DEVICES"
                              " -x JOULE_FAULT sh -c " + shell_quote(rank_job) + " 2>&1";
  const testing::CommandResult r = run_command(command);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("injected fault"), std::string::npos) << r.output;
  const std::string s0 = state("state-0"), s1 = state("state-1");
  EXPECT_NE(s0.find("reset 0"), std::string::npos) << "rank 0 (aborted from outside): " << s0 << r.output;
  EXPECT_EQ(s0.find("locked"), std::string::npos) << s0;
  EXPECT_NE(s1.find("reset 1"), std::string::npos) << "rank 1 (the failing one): " << s1;
  const std::string log = read_file(dir_ + "/runs/abort/rank-00000.jsonl");
  EXPECT_NE(log.find("\"sm_clock_mhz\":1410"), std::string::npos) << "rank 0 had locked its clock";
}
#endif


// The controller's clock decisions (energy.controller.clocks ADAPT) through the same actuator:
// with max_slowdown 1.2 a lone rank is the pace rank and may run up to 1.2x slower, so the policy
// lowers its clock (to the lowest supported clock predicted within the bound, inside the
// controller's [min_mhz, max_mhz]). APPLY locks it, reads it back and resets it at the end; DRY_RUN
// logs the same decisions and calls no setter.
class ControllerClocks : public ClockKnobRun {
 protected:
  void SetUp() override {
    ClockKnobRun::SetUp();
    const testing::SyntheticFiles f = testing::write_synthetic_dataset(dir_ + "/data", 512, 64, 8);
    std::ofstream(config_) << "run { threads: 1 cpu_math: 'eigen' }\n"
                           << "data { train_images: '" << f.train_images << "' train_labels: '" << f.train_labels
                           << "' test_images: '" << f.test_images << "' test_labels: '" << f.test_labels << "' }\n"
                           << "model { mlp { hidden: 16 } }\n"
                           << "train { batch_size: 64 epochs: 100000 }\n"
                           << "energy { window_s: 0.2 controller { max_seconds: 3 max_slowdown: 1.2\n"
                           << "  clocks { mode: ADAPT min_mhz: 1200 max_mhz: 1980 min_interval_s: 1 } } }\n";
  }
  // The SM clocks of the rank log's windows, in order.
  std::vector<unsigned> window_clocks() const {
    std::vector<unsigned> clocks;
    std::ifstream in(dir_ + "/runs/r/rank-00000.jsonl");
    for (std::string line; std::getline(in, line);) {
      const size_t at = line.find("\"sm_clock_mhz\":");
      clocks.push_back(at == std::string::npos ? 0u : static_cast<unsigned>(std::stoul(line.substr(at + 15))));
    }
    return clocks;
  }
};

TEST_F(ControllerClocks, ApplyLocksWithinBoundsReadsBackAndResets) {
  if (geteuid() != 0) GTEST_SKIP() << "NVML mode needs root";
  const testing::CommandResult r = run_command(job("--set energy.clock.apply=APPLY") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(read_file(dir_ + "/runs/r/summary.json").find("\"stop_reason\": \"max_seconds\""), std::string::npos);
  const std::string s = state();
  EXPECT_NE(s.find("reset 0"), std::string::npos) << "reset at the end: " << s;
  const std::string metrics = read_file(dir_ + "/runs/r/metrics.jsonl");
  EXPECT_NE(metrics.find("\"what\":\"clock\""), std::string::npos) << metrics.substr(0, 3000);
  bool lowered = false;
  for (unsigned mhz : window_clocks()) {
    if (mhz == 0) continue;  // before the first lock
    EXPECT_GE(mhz, 1200u);
    EXPECT_LE(mhz, 1980u);
    EXPECT_EQ((mhz - 345) % 15, 0u) << mhz << " is not a supported clock";
    lowered = lowered || mhz < 1980;
  }
  EXPECT_TRUE(lowered) << "no window ran at a lowered clock: " << r.output;
  EXPECT_NE(r.output.find("reads back"), std::string::npos) << "the read-back is printed: " << r.output;
}

TEST_F(ControllerClocks, DryRunDecidesButSetsNothing) {
  const testing::CommandResult r = run_command(job("") + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(state(), "") << "no setter call, so the fake never wrote its state file";
  const std::string metrics = read_file(dir_ + "/runs/r/metrics.jsonl");
  EXPECT_NE(metrics.find("\"what\":\"clock\""), std::string::npos) << metrics.substr(0, 3000);
}

}  // namespace
}  // namespace joule
