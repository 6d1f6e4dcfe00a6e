// EnergyAccountant with a scripted meter: windows are reading differences (they telescope to the
// run total), phase energies split a window by time and sum to it (closure).
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "energy/accountant.h"

namespace joule::energy {
namespace {

class ScriptedMeter : public Meter {
 public:
  std::vector<MeterReading> script;
  size_t next = 0;
  MeterReading read() override { return script.at(next++); }
  std::vector<std::string> sources() const override { return {"sim"}; }
  bool measured() const override { return true; }
};

PhaseSeconds seconds_of(double data, double forward, double backward, double comm) {
  PhaseSeconds s{};
  s[static_cast<size_t>(Phase::data)] = data;
  s[static_cast<size_t>(Phase::forward)] = forward;
  s[static_cast<size_t>(Phase::backward)] = backward;
  s[static_cast<size_t>(Phase::comm_wait)] = comm;
  return s;
}

TEST(EnergyAccountant, WindowsAreDifferencesAndPhasesCloseOnTheWindow) {
  ScriptedMeter meter;
  meter.script = {{10.0, 100, 50, 5}, {12.0, 700, 110, 11}, {14.5, 1600, 180, 18}};
  EnergyAccountant accountant(meter);
  const WindowEnergy w1 = accountant.close_window(seconds_of(0.2, 0.6, 1.0, 0.2));
  EXPECT_DOUBLE_EQ(w1.seconds, 2.0);
  EXPECT_DOUBLE_EQ(w1.gpu_j, 600);
  EXPECT_DOUBLE_EQ(w1.cpu_j, 60);
  EXPECT_DOUBLE_EQ(w1.dram_j, 6);
  EXPECT_DOUBLE_EQ(w1.total_j, 666);
  EXPECT_DOUBLE_EQ(w1.avg_power_w(), 333);
  EXPECT_NEAR(w1.phase_j[static_cast<size_t>(Phase::backward)], 333, 1e-9);  // half the time
  EXPECT_NEAR(std::accumulate(w1.phase_j.begin(), w1.phase_j.end(), 0.0), w1.total_j, 1e-9);
  const WindowEnergy w2 = accountant.close_window(seconds_of(0, 1, 1, 0.5));
  EXPECT_DOUBLE_EQ(w2.total_j, 900 + 70 + 7);
  EXPECT_NEAR(std::accumulate(w2.phase_j.begin(), w2.phase_j.end(), 0.0), w2.total_j, 1e-9);
  EXPECT_DOUBLE_EQ(w1.total_j + w2.total_j, accountant.total_j()) << "windows sum to the run total";
}

TEST(EnergyAccountant, EmptyWindowGoesToIdleAndBackwardsEnergyIsAnError) {
  ScriptedMeter meter;
  meter.script = {{0, 0, 10, 0}, {1, 0, 15, 0}, {2, 0, 12, 0}};
  EnergyAccountant accountant(meter);
  const WindowEnergy w = accountant.close_window(PhaseSeconds{});
  EXPECT_DOUBLE_EQ(w.phase_j[static_cast<size_t>(Phase::idle)], 5);
  EXPECT_THROW(accountant.close_window(PhaseSeconds{}), joule::Error);
}

}  // namespace
}  // namespace joule::energy
