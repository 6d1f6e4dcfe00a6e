// EstimateMeter: the energy formula, the labels of its readings, growth with consumed CPU time, and
// rejection of negative power. Nothing here asserts on speed: the busy loop runs until the process
// has used 50 ms of CPU, however long that takes, and only the resulting energy is checked.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "energy/estimate_meter.h"
#include "tests/support/expect_error.h"

namespace joule::energy {
namespace {

// Spins until this process has used `cpu_s` more seconds of CPU time.
double burn_cpu(double cpu_s) {
  const double start = process_cpu_seconds();
  volatile double sink = 0;
  while (process_cpu_seconds() - start < cpu_s) {
    for (int i = 0; i < 10000; ++i) sink = sink + std::sqrt(static_cast<double>(i));
  }
  return sink;
}

}  // namespace

TEST(EstimateMeter, EnergyFormula) {
  EstimateMeter meter(5.0, 3.0);
  EXPECT_DOUBLE_EQ(meter.energy_for(2.0, 10.0), 2.0 * 5.0 + 10.0 * 3.0);
  EXPECT_DOUBLE_EQ(meter.energy_for(0.0, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(meter.energy_for(4.0, 0.0), 20.0);
  EXPECT_DOUBLE_EQ(meter.energy_for(0.0, 4.0), 12.0);
  EstimateMeter no_static(7.5, 0.0);
  EXPECT_DOUBLE_EQ(no_static.energy_for(2.0, 100.0), 15.0);
}

TEST(EstimateMeter, ReadingIsLabelledAnEstimate) {
  EstimateMeter meter(10.0, 1.0);
  const MeterReading r = meter.read();
  EXPECT_EQ(meter.sources(), std::vector<std::string>{"estimate"});
  EXPECT_FALSE(meter.measured());
  EXPECT_GT(r.time_s, 0.0);
  EXPECT_GE(r.cpu_j, 0.0);
  EXPECT_TRUE(std::isfinite(r.cpu_j));
  EXPECT_EQ(r.gpu_j, 0.0);
  EXPECT_EQ(r.dram_j, 0.0);
}

TEST(EstimateMeter, EnergyGrowsWithCpuTime) {
  constexpr double watts_per_core = 10.0;
  EstimateMeter meter(watts_per_core, 0.0);
  const MeterReading before = meter.read();
  burn_cpu(0.05);
  const MeterReading after = meter.read();
  // 50 ms of CPU at 10 W is 0.5 J; ask for 0.2 J to leave room for clock granularity
  EXPECT_GE(after.cpu_j - before.cpu_j, watts_per_core * 0.02);
  EXPECT_GE(after.time_s, before.time_s);
  // with no static power, energy cannot exceed (process CPU since start) x watts
  EXPECT_LE(after.cpu_j, watts_per_core * (process_cpu_seconds() + 1e-9));
}

TEST(EstimateMeter, ProcessCpuTimeGrowsWithWork) {
  const double cpu = process_cpu_seconds();
  burn_cpu(0.005);
  EXPECT_GT(process_cpu_seconds(), cpu);
}

TEST(EstimateMeter, RejectsNegativeOrNanWatts) {
  using testing::expect_invalid_input;
  expect_invalid_input([] { EstimateMeter(-1.0, 0.0); }, {"watts must be >= 0", "-1"});
  expect_invalid_input([] { EstimateMeter(1.0, -0.5); }, {"watts must be >= 0", "-0.5"});
  expect_invalid_input([] { EstimateMeter(std::numeric_limits<double>::quiet_NaN(), 0.0); }, "watts must be >= 0");
  EstimateMeter zero(0.0, 0.0);  // zero is allowed
  EXPECT_EQ(zero.read().total_j(), 0.0);
}

}  // namespace joule::energy
