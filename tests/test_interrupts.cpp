// Interrupts as a user sends them: Ctrl-C to mpirun's process group on a 2-rank run, SIGINT while
// the data loads, and a signal that arrives during the closing evaluation. Each must end with exit
// status 3; once training ran, summary.json must exist and say "interrupted"; before it, nothing.
//
// Each job runs in a process group of its own and the signal goes to that group, as a terminal's
// Ctrl-C does. Every job is bounded by `timeout`; the scripts print "status=N".
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/build_info.h"
#include "core/proto/records.pb.h"
#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule::testing {
namespace {

namespace fs = std::filesystem;

const char* const kFashion = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

class Interrupts : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir("joule-interrupts"); }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Starts `job` (a shell command) in a process group of its own, waits until `ready` (a shell
  // condition) holds (at most 120 s), sends `signal` to that group (what a terminal's Ctrl-C
  // reaches: mpirun puts its ranks in groups of their own) and returns the job's output with its
  // "status=N" line. The job is bounded: SIGKILL to its group 60 s after the signal.
  CommandResult interrupt(const std::string& job, const std::string& ready, const std::string& signal = "INT") {
    // bash job control (set -m): the job gets a process group of its own and, unlike a plain
    // background command, keeps SIGINT (a non-interactive shell starts those with SIGINT ignored)
    const std::string script =
        "set -m\n"
        "sh -c " + shell_quote("exec " + job) + " > " + dir_ + "/job.log 2>&1 &\n"
        "pid=$!\n"
        "i=0; until " + ready + "; do i=$((i+1)); [ $i -gt 1200 ] && break; sleep 0.1; done\n"
        "kill -" + signal + " -$pid\n"
        "i=0; while kill -0 $pid 2>/dev/null; do i=$((i+1)); [ $i -gt 600 ] && pkill -KILL -g $pid; sleep 0.1; done\n"
        "wait $pid; echo \"status=$?\"; cat " + dir_ + "/job.log\n";
    const std::string path = dir_ + "/driver.sh";
    std::ofstream(path) << script;
    return run_command("bash " + shell_quote(path));
  }

  static int status_of(const CommandResult& r) {
    const size_t at = r.output.find("status=");
    return at == std::string::npos ? -1 : std::stoi(r.output.substr(at + 7));
  }

  pb::Summary summary(const std::string& run_dir) {
    pb::Summary s;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(run_dir + "/summary.json"), &s).ok())
        << "no summary.json in " << run_dir;
    return s;
  }

  std::string dir_;
};

// Ctrl-C on a 2-rank fashion_cnn run: the closing evaluation (~2 s on 2 cores) would outlast the
// grace mpirun gives ranks before it kills them; an interrupt skips it and writes the summary.
// Through scripts/mpirun.sh the job's status is 3; plain mpirun exits 1 after SIGINT whatever its
// ranks did (Open MPI's choice), but the summary is still written; SIGUSR1, which mpirun forwards
// to the ranks, gives 3 with plain mpirun too.
TEST_F(Interrupts, CtrlCUnderMpirunEndsWithStatus3AndASummary) {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
  GTEST_SKIP() << "built without MPI";
#else
  if (!fs::exists(kFashion)) GTEST_SKIP() << "needs dataset-fashion-mnist";
  struct Case {
    std::string launcher, signal;
    int status;
  };
  const std::string wrapper = "env MPIRUN=" + shell_quote(JOULE_MPIEXEC) + " bash " +
                              shell_quote(std::string(JOULE_SOURCE_DIR) + "/scripts/mpirun.sh");
  // plain mpirun SIGTERMs the ranks odls_base_sigkill_timeout (1 s) after SIGINT and SIGKILLs them
  // as long again: 3 s for the step, checkpoint and summary on a loaded machine
  const std::string plain_int = shell_quote(JOULE_MPIEXEC) + " --mca odls_base_sigkill_timeout 3";
  const std::vector<Case> cases = {{wrapper, "INT", 3}, {wrapper, "TERM", 3}, {shell_quote(JOULE_MPIEXEC), "USR1", 3},
                                   {plain_int, "INT", 1}};
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.launcher + " ← SIG" + c.signal);
    const std::string name = "cnn" + std::to_string(++n), run_dir = dir_ + "/runs/" + name;
    const std::string job = c.launcher + " --allow-run-as-root --oversubscribe -np 2 " +
                            shell_quote(binary_path("joule-train")) + " --config " +
                            shell_quote(std::string(JOULE_SOURCE_DIR) + "/examples/configs/fashion_cnn.pbtxt") +
                            " --output " + shell_quote(dir_ + "/runs") + " --set run.name=" + name +
                            " --set train.log_every_steps=1";
    const CommandResult r =
        interrupt(job, "grep -q '\"kind\":\"train\"' " + run_dir + "/metrics.jsonl 2>/dev/null", c.signal);
    EXPECT_EQ(status_of(r), c.status) << r.output;
    ASSERT_TRUE(fs::exists(run_dir + "/summary.json")) << r.output;
    const pb::Summary s = summary(run_dir);
    EXPECT_EQ(s.stop_reason(), "interrupted");
    EXPECT_EQ(s.world_size(), 2u);
    EXPECT_EQ(s.energy_j_per_rank_size(), 2);
  }
#endif
}

// SIGINT (and SIGTERM) while the data set loads: status 3, not death by signal (130/143), and no
// run directory: nothing had been written yet.
TEST_F(Interrupts, SignalWhileDataLoadsEndsWithStatus3AndWritesNothing) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "needs dataset-fashion-mnist";
  for (const char* signal : {"INT", "TERM"}) {
    const std::string output = dir_ + "/runs-" + signal;
    const std::string job = shell_quote(binary_path("joule-train")) + " --config " +
                            shell_quote(std::string(JOULE_SOURCE_DIR) + "/examples/configs/fashion_mlp.pbtxt") +
                            " --output " + shell_quote(output) + " --set run.name=r";
    // as soon as main() has installed its handlers (SIGUSR1, set with SIGINT and SIGTERM, caught in
    // /proc/PID/status), however long dynamic loading took: the Fashion-MNIST files (80 MB
    // inflated) take far longer than that to load
    const CommandResult r = interrupt(
        job, "[ $(( 0x$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$pid/status 2>/dev/null || echo 0) & 0x200 )) -ne 0 ]",
        signal);
    EXPECT_EQ(status_of(r), 3) << signal << ": " << r.output;
    EXPECT_FALSE(fs::exists(output + "/r")) << signal << ": " << r.output;
  }
}

// A signal during the closing evaluation is not swallowed: status 3 and stop_reason "interrupted"
// (the steps were all done, but the user asked to stop and the evaluation did not finish).
TEST_F(Interrupts, SignalDuringTheClosingEvaluationIsNotSwallowed) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "needs dataset-fashion-mnist";
  const std::string run_dir = dir_ + "/runs/cnn";
  const std::string job = shell_quote(binary_path("joule-train")) + " --config " +
                          shell_quote(std::string(JOULE_SOURCE_DIR) + "/examples/configs/fashion_cnn.pbtxt") +
                          " --output " + shell_quote(dir_ + "/runs") +
                          " --set run.name=cnn --set train.max_steps=2 --set train.log_every_steps=1" +
                          " --set run.threads=1 --set train.eval_batch_size=100";
  // SIGTERM as the closing evaluation (after step 2) starts, inside it however fast the CPU (a
  // signal sent from outside once the step-2 line appeared can miss an evaluation shorter than the
  // poll; signals from outside are the other tests')
  const CommandResult r = run_command("JOULE_FAULT=term:0:2:eval timeout -k 5 120 " + job + " 2>&1; echo \"status=$?\"");
  EXPECT_EQ(status_of(r), 3) << r.output;
  const pb::Summary s = summary(run_dir);
  EXPECT_EQ(s.stop_reason(), "interrupted") << r.output;
  EXPECT_EQ(s.steps(), 2u);
}

}  // namespace
}  // namespace joule::testing
