// core/clock.h: each clock is the one its name promises (compared with the standard library's and
// the C library's view of the same clock), and the host name is the system's.
#include "core/clock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>

namespace joule {
namespace {

// steady_clock is CLOCK_MONOTONIC on Linux: read between two of its readings, ours lies between them.
TEST(Clock, MonotonicIsTheSteadyClock) {
  auto steady = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  const double before = steady();
  const double ours = monotonic_seconds();
  const double after = steady();
  EXPECT_LE(before, ours + 1e-9);
  EXPECT_LE(ours, after + 1e-9);
}

// Seconds since the epoch, not milliseconds or an arbitrary origin: time(2) agrees to the second.
TEST(Clock, UnixSecondsIsTheEpochClock) {
  const std::time_t before = std::time(nullptr);
  const double ours = unix_seconds();
  const std::time_t after = std::time(nullptr);
  EXPECT_GE(ours, static_cast<double>(before));
  EXPECT_LT(ours, static_cast<double>(after) + 1);
}

TEST(Clock, HostNameIsTheSystems) {
  char name[256] = {};
  ASSERT_EQ(gethostname(name, sizeof(name) - 1), 0);
  EXPECT_EQ(host_name(), name[0] != '\0' ? std::string(name) : std::string("localhost"));
}

}  // namespace
}  // namespace joule
