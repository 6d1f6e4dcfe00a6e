// Multi-rank jobs end to end: joule-train on 2 ranks under mpirun writes the run directory (rank
// logs with energy, summary, TensorBoard events) and joule-report reads it; with one rank made to
// fail through JOULE_FAULT (distributed/fault_injection.h), whatever fails, the whole job must end
// with a non-zero status, name the failing rank instead of hanging, and leave only complete lines.
//
// No duration is asserted: every command is bounded by `timeout 90` (status 124: the job hung, a
// failure) and the test by ctest's TIMEOUT. Where a test shows that the watchdog or a signal ended
// the job, the sleep or stall that would otherwise end it is made longer than that bound, and the
// message and status say which mechanism fired.
// A rank frozen with SIGSTOP (JOULE_FAULT=stop) is found through /proc by its command line, which
// names this test's directory; teardown SIGKILLs whatever of the job is left.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "core/build_info.h"
#include "core/proto/records.pb.h"
#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule::testing {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  CommandResult result;
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
    if (dir_.empty()) return;
    for (const JobProcess& p : job_processes()) kill(p.pid, SIGKILL);  // a stopped rank, say
    if (!HasFailure()) fs::remove_all(dir_);
  }

  struct JobProcess {
    pid_t pid;
    char state;  // of /proc/PID/stat: 'T' stopped, 'R' running, 'S' sleeping, ...
  };
  // This test's joule-train processes: their command line names dir_.
  std::vector<JobProcess> job_processes() const {
    std::vector<JobProcess> found;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
      const std::string pid = entry.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      auto slurp = [&](const char* file) -> std::string {
        std::ifstream in("/proc/" + pid + "/" + file);
        try {  // a process that ends while it is read fails the read (ESRCH): it is gone, not ours
          return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        } catch (const std::ios_base::failure&) {
          return "";
        }
      };
      if (slurp("comm") != "joule-train\n" || slurp("cmdline").find(dir_) == std::string::npos) continue;
      const std::string stat = slurp("stat");  // "PID (comm) STATE ..."
      const size_t paren = stat.rfind(')');
      if (paren == std::string::npos || paren + 2 >= stat.size()) continue;
      found.push_back({static_cast<pid_t>(std::atoi(pid.c_str())), stat[paren + 2]});
    }
    return found;
  }

  // train() on a thread, watching its ranks: times (seconds since the start, printed, never
  // asserted) when one was first seen stopped, when the others were sent SIGTERM (with
  // sigterm_running: right after that) and when the job ended.
  struct Watched {
    Outcome outcome;
    double stopped_at = -1;
    double sigterm_at = -1;
    double ended_at = -1;
  };
  Watched train_watched(const std::string& fault, const std::string& args, bool sigterm_running) {
    Watched w;
    const auto start = std::chrono::steady_clock::now();
    auto since_start = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    std::future<Outcome> job = std::async(std::launch::async, [&] { return train(fault, args); });
    while (job.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
      if (w.stopped_at >= 0) continue;
      const std::vector<JobProcess> ranks = job_processes();
      bool stopped = false;
      for (const JobProcess& p : ranks) stopped |= p.state == 'T';
      if (!stopped) continue;
      w.stopped_at = since_start();
      if (!sigterm_running) continue;
      for (const JobProcess& p : ranks)
        if (p.state != 'T') kill(p.pid, SIGTERM);
      w.sigterm_at = since_start();
    }
    w.ended_at = since_start();
    w.outcome = job.get();
    return w;
  }
  // Once the job has ended, none of its ranks is left (stopped or not); waits a moment for them.
  void expect_no_rank_left() const {
    std::vector<JobProcess> left = job_processes();
    for (int i = 0; i < 50 && !left.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      left = job_processes();
    }
    EXPECT_TRUE(left.empty()) << left.size() << " rank(s) of the job left behind, the first in state "
                              << (left.empty() ? '-' : left[0].state);
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
    outcome.result = run_command(command);
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
    // windows sum to the rank's total (the summary's figure): they telescope, up to rounding
    EXPECT_NEAR(windows_j, summary.energy_j_per_rank(r), 1e-9 * summary.energy_j_per_rank(r)) << "rank " << r;
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
  const Outcome o = train("kill:1:300", "--set energy.window_s=1e-9");  // a window every step
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

// Rank 1 sleeps past the command's timeout: only the watchdog can end the job in time.
TEST_F(MpiFailures, StallWatchdogNamesTheMissingRank) {
  const Outcome o = train("sleep:1:3:3600", "--set distributed.stall_timeout_s=2");
  expect_ended_job(o);
  expect_contains(o, "(rank 0): error:");
  expect_contains(o, "ranks not arrived: 1");
  expect_contains(o, "distributed.stall_timeout_s");
}

// Rank 0 is the one that names missing ranks; when it is the stalled one, the others say so.
TEST_F(MpiFailures, StallOfRank0IsReportedByTheOthers) {
  const Outcome o = train("sleep:0:3:3600", "--set distributed.stall_timeout_s=2");
  expect_ended_job(o);
  expect_contains(o, "(rank 1): error:");
  expect_contains(o, "rank 0 may be the stalled one");
}

// A rank that freezes inside a collective after passing its arrival gate (a breakpoint, SIGSTOP):
// the data phase is watched too, so rank 0 ends the job once the stall timeout has passed and
// names the rank that never finished (the frozen rank never resumes: nothing else could end it).
TEST_F(MpiFailures, RankFrozenInsideACollectiveEndsTheJobNamingIt) {
  const double timeout_s = 3;
  const Watched w = train_watched("stop:1:3", "--set distributed.stall_timeout_s=3", /*sigterm_running=*/false);
  expect_ended_job(w.outcome);
  ASSERT_GE(w.stopped_at, 0) << "rank 1 was never seen stopped\n" << w.outcome.result.output;
  const double after = w.ended_at - w.stopped_at;
  std::printf("rank 1 froze inside a collective %.1f s after the start; the job ended %.1f s later "
              "(distributed.stall_timeout_s = %g)\n", w.stopped_at, after, timeout_s);
  expect_contains(w.outcome, "JOULE_FAULT: stopping (SIGSTOP) inside all_reduce");
  expect_contains(w.outcome, "(rank 0): error: all_reduce #");
  expect_contains(w.outcome, "every rank arrived; ranks not finished: 1 ");
  expect_contains(w.outcome, "distributed.stall_timeout_s = 3");
  expect_no_rank_left();
}

// SIGTERM reaches a rank blocked in a collective by a frozen one (stall timeout far off): it ends
// the job, with the trainer's "interrupted" status 3, the interrupt grace (5 s) after the signal. The
// stall timeout is beyond the command's: the watchdog cannot be what ends it.
// Needs joule-train to hand its stop flag to the communicator (Communicator::set_interrupt_flag).
TEST_F(MpiFailures, SigtermEndsARankBlockedByAFrozenOne) {
  const Watched w = train_watched("stop:1:3", "--set distributed.stall_timeout_s=3600", /*sigterm_running=*/true);
  ASSERT_GE(w.sigterm_at, 0) << "rank 1 was never seen stopped\n" << w.outcome.result.output;
  const double after = w.ended_at - w.sigterm_at;
  std::printf("rank 0, blocked by the frozen rank 1, got SIGTERM; the job ended %.1f s later (exit status %d)\n",
              after, w.outcome.result.status);
  EXPECT_EQ(w.outcome.result.status, 3) << w.outcome.result.output;
  expect_contains(w.outcome, "(rank 0): error: interrupted (SIGINT/SIGTERM) while ranks were missing: all_reduce #");
  expect_contains(w.outcome, "ranks not finished: 1 ");
  expect_no_rank_left();
}

}  // namespace
}  // namespace joule::testing
