// EnergyAccountant: turns meter readings into per-window energy by domain and by phase.
//
// At each window edge (a step boundary, the device synchronized) the meter is read; the window's
// energy per domain is the difference of two cumulative readings, so windows telescope: their sum
// is exactly last − first reading (the run total). Within a window, energy is attributed to the
// training phases in proportion to the time each took (PhaseClock), so phase energies sum to the
// window's metered energy by construction. That is exact for the estimate (energy ∝ CPU time) and
// an approximation for measured domains, where phases draw different power; finer attribution
// needs the counter read at phase boundaries, which the ~100 ms NVML update period rules out for
// phases shorter than that.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "energy/meter.h"
#include "energy/phase_clock.h"

namespace joule::energy {

struct WindowEnergy {
  double seconds = 0;  // window length
  double gpu_j = 0, cpu_j = 0, dram_j = 0, total_j = 0;
  PhaseSeconds phase_seconds{};
  PhaseSeconds phase_j{};  // sums to total_j
  double avg_power_w() const { return seconds > 0 ? total_j / seconds : 0; }
};

class EnergyAccountant {
 public:
  // Takes the first reading now; `meter` must outlive the accountant.
  explicit EnergyAccountant(Meter& meter);

  // Closes a window: reads the meter and splits the energy since the previous edge by the given
  // phase seconds (from PhaseClock::take_window over the same interval).
  WindowEnergy close_window(const PhaseSeconds& phase_seconds);

  double total_j() const { return last_.total_j() - first_.total_j(); }  // since construction
  double current_total_j();  // reads the meter now (for eval lines), without closing a window
  std::vector<std::string> sources() const { return meter_.sources(); }
  bool measured() const { return meter_.measured(); }

 private:
  Meter& meter_;
  MeterReading first_;
  MeterReading last_;
};

}  // namespace joule::energy
