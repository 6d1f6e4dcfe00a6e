// EstimateMeter: CPU energy where nothing can be measured, from this process's CPU time:
//   energy_j = cpu_seconds × watts_per_core + wall_seconds × static_watts.
// Its numbers are estimates and are labelled so (source "estimate", measured = false) wherever
// they appear. The measured meters (NVML, RAPL) arrive with per-rank energy accounting.
#pragma once

#include <string>

namespace joule::energy {

struct EnergyReading {
  double energy_j = 0;      // cumulative since the meter started
  double wall_s = 0;        // seconds since the meter started
  std::string source;       // "estimate", "rapl", "nvml", "sim"
  bool measured = false;
};

class EstimateMeter {
 public:
  EstimateMeter(double watts_per_core, double static_watts);
  EnergyReading read() const;

  // The formula, exposed for tests: energy of `cpu_s` CPU seconds over `wall_s` wall seconds.
  double energy_for(double cpu_s, double wall_s) const { return cpu_s * watts_per_core_ + wall_s * static_watts_; }

 private:
  double watts_per_core_;
  double static_watts_;
  double cpu_start_s_;
  double wall_start_s_;
};

double process_cpu_seconds();  // CLOCK_PROCESS_CPUTIME_ID
double monotonic_seconds();    // CLOCK_MONOTONIC

}  // namespace joule::energy
