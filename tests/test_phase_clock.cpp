// PhaseClock: time goes to the phase that was active, windows partition the time exactly.
#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "energy/phase_clock.h"

namespace joule::energy {
namespace {

TEST(PhaseClock, AttributesTimeToTheActivePhaseAndWindowsPartitionIt) {
  PhaseClock clock(10.0);  // starts idle
  clock.enter(Phase::data, 10.5);
  clock.enter(Phase::forward, 11.0);
  clock.enter(Phase::backward, 12.5);
  PhaseSeconds w1 = clock.take_window(13.0);  // backward still running: cut at 13
  EXPECT_DOUBLE_EQ(w1[static_cast<size_t>(Phase::idle)], 0.5);
  EXPECT_DOUBLE_EQ(w1[static_cast<size_t>(Phase::data)], 0.5);
  EXPECT_DOUBLE_EQ(w1[static_cast<size_t>(Phase::forward)], 1.5);
  EXPECT_DOUBLE_EQ(w1[static_cast<size_t>(Phase::backward)], 0.5);
  EXPECT_DOUBLE_EQ(std::accumulate(w1.begin(), w1.end(), 0.0), 3.0);
  EXPECT_EQ(clock.current(), Phase::backward);
  clock.enter(Phase::comm_wait, 13.25);
  // the open window so far: the finished part of a phase, and the running one up to now
  EXPECT_DOUBLE_EQ(clock.window_seconds(Phase::backward, 13.5), 0.25);
  EXPECT_DOUBLE_EQ(clock.window_seconds(Phase::comm_wait, 13.5), 0.25);
  EXPECT_DOUBLE_EQ(clock.window_seconds(Phase::data, 13.5), 0.0);
  PhaseSeconds w2 = clock.take_window(14.0);
  EXPECT_DOUBLE_EQ(w2[static_cast<size_t>(Phase::backward)], 0.25);
  EXPECT_DOUBLE_EQ(w2[static_cast<size_t>(Phase::comm_wait)], 0.75);
  EXPECT_DOUBLE_EQ(std::accumulate(w2.begin(), w2.end(), 0.0), 1.0);
  EXPECT_DOUBLE_EQ(clock.window_start(), 14.0);
}

TEST(PhaseClock, NamesAreTheLogFieldNames) {
  EXPECT_EQ(std::string(phase_name(Phase::comm_wait)), "comm_wait");
  EXPECT_EQ(std::string(phase_name(Phase::data)), "data");
  EXPECT_EQ(std::string(phase_name(Phase::idle)), "idle");
}

}  // namespace
}  // namespace joule::energy
