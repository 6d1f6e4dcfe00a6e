// joule-bench's command lines (examples/cli.h): every subcommand names a bad flag or value and exits
// 2, answers --help with status 0, and an unknown subcommand is refused with the usage.
#include <gtest/gtest.h>

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
}

TEST(BenchCli, HelpExits0ListingTheFlags) {
  const struct {
    const char* args;
    std::vector<std::string> flags;
  } cases[] = {{"--help", {"gemm", "allreduce", "energy", "cpu-math"}},
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

}  // namespace
}  // namespace joule::testing
