// joule-bench's command lines (examples/cli.h): every subcommand names a bad flag or value and exits
// 2, answers --help with status 0, and an unknown subcommand is refused with the usage.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/command.h"

namespace joule::testing {
namespace {

CommandResult bench(const std::string& args) { return run_command(binary_path("joule-bench") + " " + args); }

void expect_refused(const std::string& args, const std::vector<std::string>& needles) {
  const CommandResult r = bench(args);
  EXPECT_EQ(r.status, 2) << args << ": " << r.output;
  for (const std::string& needle : needles) EXPECT_NE(r.output.find(needle), std::string::npos) << args << ": " << r.output;
}

TEST(BenchCli, BadFlagsAndValuesExit2NamingThem) {
  expect_refused("", {"a subcommand is required", "joule-bench gemm"});
  expect_refused("frob", {"unknown subcommand 'frob'"});
  expect_refused("gemm --size 0", {"--size", ">= 1", "'0'"});
  expect_refused("gemm --repeats many", {"--repeats", "'many'"});
  expect_refused("gemm --backend mkl", {"--backend", "'mkl'"});
  expect_refused("gemm --sizes 4", {"unknown argument '--sizes'"});
  expect_refused("gemm --size", {"--size", "missing"});
  expect_refused("energy --step-ms 0", {"--step-ms", "> 0"});
  expect_refused("energy --marks-per-step -1", {"--marks-per-step", ">= 0"});
  expect_refused("cpu-math", {"--config FILE is required"});
  expect_refused("cpu-math --config x --passes 0", {"--passes", ">= 1"});
  expect_refused("allreduce --iters 0", {"--iters", ">= 1"});
  expect_refused("allreduce --bucket-mb 0", {"--bucket-mb", "> 0"});
  expect_refused("allreduce --min-bytes 3", {"--min-bytes", "'3'"});
  expect_refused("allreduce --min-bytes 1M --max-bytes 1K", {"exceeds --max-bytes"});
  expect_refused("controller --windows 10", {"--windows", ">= 100", "'10'"});
  expect_refused("controller --step-ms 0", {"--step-ms", "> 0"});
  expect_refused("controller --ranks 0", {"--ranks", ">= 1"});
}

TEST(BenchCli, HelpExits0ListingTheFlags) {
  const struct {
    const char* args;
    std::vector<std::string> flags;
  } cases[] = {{"--help", {"gemm", "allreduce", "energy", "controller", "cpu-math"}},
               {"controller --help", {"--ranks", "--windows", "--window-s", "--step-ms"}},
               {"gemm --help", {"--size", "--threads", "--repeats", "--backend"}},
               {"allreduce --help", {"--min-bytes", "--max-bytes", "--iters", "--warmup", "--bucket-mb",
                                     "--first-bucket-mb", "--no-overlap"}},
               {"energy --help", {"--step-ms", "--window-s", "--marks-per-step"}},
               {"cpu-math --help", {"--config", "--batch", "--threads", "--passes"}}};
  for (const auto& c : cases) {
    const CommandResult r = bench(c.args);
    EXPECT_EQ(r.status, 0) << c.args << ": " << r.output;
    for (const std::string& flag : c.flags)
      EXPECT_NE(r.output.find(flag), std::string::npos) << c.args << ": " << flag << " missing: " << r.output;
  }
}

// A valid command line runs: a tiny GEMM on one backend, checked (#wrong 0 gives status 0).
TEST(BenchCli, ValidFlagsRun) {
  const CommandResult r = bench("gemm --size 16 --repeats 1 --threads 1 --backend eigen");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("gemm_f32  eigen"), std::string::npos) << r.output;
}

// The controller table: "part calls mean_us p99_us cpu_mean_us cpu_p99_us per_call_us %window %step" rows, by part name.
std::map<std::string, std::vector<std::string>> controller_rows(const std::string& output) {
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() == 9 && f[0] != "part" && f[0][0] != '#') rows[f[0]] = f;
  }
  return rows;
}

bool is_number(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0' && v >= 0;
}

void expect_controller_table(const CommandResult& r, bool allreduce_timed) {
  ASSERT_EQ(r.status, 0) << r.output;
  const auto rows = controller_rows(r.output);
  for (const char* part : {"knob-policy", "clock-policy", "stop-rule", "policies", "all-reduce", "total"}) {
    ASSERT_EQ(rows.count(part), 1u) << part << " missing: " << r.output;
    const std::vector<std::string>& f = rows.at(part);
    const bool dashes = std::string(part) == "all-reduce" && !allreduce_timed;
    for (size_t k = 1; k < f.size(); ++k)
      EXPECT_TRUE(dashes ? f[k] == "-" : is_number(f[k])) << part << " column " << k << ": " << f[k] << "\n" << r.output;
  }
  // every window calls the knob policy; an evaluation every 10th window
  EXPECT_EQ(rows.at("knob-policy")[1], "2000") << r.output;
  EXPECT_EQ(rows.at("stop-rule")[1], "200") << r.output;
  EXPECT_EQ(r.output.find("FAILED"), std::string::npos) << r.output;
}

// One process: the policies are timed, the all-reduce row says "-" and why.
TEST(BenchCli, ControllerPrintsItsTable) {
  const CommandResult r = bench("controller --windows 2000 --step-ms 14");
  expect_controller_table(r, false);
  EXPECT_NE(r.output.find("not timed: one process"), std::string::npos) << r.output;
}

// The trace is verified: 100 windows end before the stop rule's threshold is crossed (window 489 of
// this trace), so the run reports it and exits 1.
TEST(BenchCli, ControllerFailsWhenThePoliciesDidNotDecide) {
  const CommandResult r = bench("controller --windows 100");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("FAILED: the stop rule never fired"), std::string::npos) << r.output;
}

// Under mpirun -np 2 the all-reduce of 2x8 doubles is timed on the real communicator.
TEST(BenchCli, ControllerUnderMpirunTimesTheAllReduce) {
#ifdef JOULE_MPIEXEC
  const CommandResult r = run_command("timeout -k 5 90 " + shell_quote(JOULE_MPIEXEC) +
                                      " --allow-run-as-root --oversubscribe -np 2 " +
                                      shell_quote(binary_path("joule-bench")) + " controller --windows 2000 --step-ms 14");
  expect_controller_table(r, true);
  EXPECT_NE(r.output.find("all_reduce_sum of 2x8 doubles"), std::string::npos) << r.output;
#else
  GTEST_SKIP() << "built without MPI";
#endif
}

}  // namespace
}  // namespace joule::testing
