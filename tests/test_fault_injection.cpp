// JOULE_FAULT: parsing (good forms, and bad text rejected naming JOULE_FAULT and the format), and
// the faults: nothing happens on other ranks or steps; throw, sleep, kill and stop do what they say.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>

#include "core/error.h"
#include "distributed/fault_injection.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;

TEST(FaultInjection, UnsetOrEmptyMeansNoFault) {
  EXPECT_EQ(parse_fault_plan(nullptr).kind, FaultKind::none);
  EXPECT_EQ(parse_fault_plan("").kind, FaultKind::none);
  inject_fault(parse_fault_plan(nullptr), 0, 0);  // and injecting it does nothing
}

TEST(FaultInjection, ParsesEachKind) {
  const FaultPlan thrown = parse_fault_plan("throw:1:3");
  EXPECT_EQ(thrown.kind, FaultKind::throw_error);
  EXPECT_EQ(thrown.rank, 1);
  EXPECT_EQ(thrown.step, 3);

  const FaultPlan slept = parse_fault_plan("sleep:0:12:2.5");
  EXPECT_EQ(slept.kind, FaultKind::sleep);
  EXPECT_EQ(slept.rank, 0);
  EXPECT_EQ(slept.step, 12);
  EXPECT_DOUBLE_EQ(slept.seconds, 2.5);
  EXPECT_DOUBLE_EQ(parse_fault_plan("sleep:3:0:60").seconds, 60.0);

  const FaultPlan killed = parse_fault_plan("kill:7:0");
  EXPECT_EQ(killed.kind, FaultKind::kill);
  EXPECT_EQ(killed.rank, 7);
  EXPECT_EQ(killed.step, 0);
  const FaultPlan termed = parse_fault_plan("term:1:30");
  EXPECT_EQ(termed.kind, FaultKind::term);
  EXPECT_EQ(termed.step, 30);

  const FaultPlan stopped = parse_fault_plan("stop:1:4");
  EXPECT_EQ(stopped.kind, FaultKind::stop);
  EXPECT_EQ(stopped.rank, 1);
  EXPECT_EQ(stopped.step, 4);
}

TEST(FaultInjection, BadTextNamesTheVariableAndTheFormat) {
  const char* format = "throw:RANK:STEP, sleep:RANK:STEP:SECONDS, kill:RANK:STEP, term:RANK:STEP[:eval|:checkpoint|:twice], stop:RANK:STEP or nonfinite:RANK:STEP[:COUNT]";
  for (const char* bad : {"explode:1:3", "throw", "throw:1", "throw:1:3:4", "sleep:1:3", "throw:-1:3", "throw:a:3",
                          "throw:1:", "throw::3", "kill:1:3.5", "sleep:1:3:x", "sleep:1:3:-2", "sleep:1:3:",
                          "sleep:1:3:1s", "THROW:1:3", " throw:1:3", "stop:1", "stop:1:3:2"}) {
    SCOPED_TRACE(bad);
    expect_invalid_input([&] { parse_fault_plan(bad); }, {"JOULE_FAULT", std::string("'") + bad + "'", format});
  }
  expect_invalid_input([] { parse_fault_plan("throw:x:3"); }, "RANK 'x'");
  expect_invalid_input([] { parse_fault_plan("throw:1:y"); }, "STEP 'y'");
  expect_invalid_input([] { parse_fault_plan("sleep:1:3:z"); }, "SECONDS 'z'");
}

TEST(FaultInjection, OtherRanksAndStepsAreUntouched) {
  const FaultPlan plan = parse_fault_plan("throw:1:3");
  for (int rank = 0; rank < 4; ++rank)
    for (int64_t step = 0; step < 10; ++step)
      if (rank != 1 || step != 3) inject_fault(plan, rank, step);
  inject_fault(parse_fault_plan("kill:1:3"), 0, 3);
  inject_fault(parse_fault_plan("kill:1:3"), 1, 4);
  inject_fault(parse_fault_plan("sleep:1:3:1000"), 1, 2);
  inject_fault(parse_fault_plan("stop:1:3"), 0, 3);
  inject_fault(parse_fault_plan("stop:1:3"), 1, 2);
  inject_armed_fault(1, "all_reduce");  // nothing armed: returns
}

TEST(FaultInjection, ThrowNamesRankAndStep) {
  const FaultPlan plan = parse_fault_plan("throw:1:3");
  try {
    inject_fault(plan, 1, 3);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);  // exit status 1, not 2: the input was fine
    EXPECT_NE(e.message().find("injected fault"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("rank 1"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("step 3"), std::string::npos) << e.message();
  }
}

// sleep_for's contract: at least the time asked for (no upper bound is asserted).
TEST(FaultInjection, SleepLastsAtLeastTheGivenSeconds) {
  const auto start = std::chrono::steady_clock::now();
  inject_fault(parse_fault_plan("sleep:0:5:0.05"), 0, 5);
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0.05);
}

TEST(FaultInjectionDeathTest, KillRaisesSigkill) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(inject_fault(parse_fault_plan("kill:2:9"), 2, 9), ::testing::KilledBySignal(SIGKILL), "");
}

// stop is armed at the step and happens at the next collective's inject_armed_fault, once: the
// process stops (SIGSTOP; a death test cannot wait for a stopped child, so this forks itself).
TEST(FaultInjection, StopIsArmedByTheStepAndRaisedInsideTheNextCollective) {
  std::fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    inject_fault(parse_fault_plan("stop:1:3"), 1, 3);
    inject_armed_fault(1, "all_reduce");  // stops here
    inject_armed_fault(1, "all_reduce");  // taken already: returns
    std::_Exit(7);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, WUNTRACED), child);
  EXPECT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP) << "status " << status;
  kill(child, SIGCONT);
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << "status " << status;
}

}  // namespace
}  // namespace joule
