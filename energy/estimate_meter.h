// EstimateMeter: CPU energy where nothing can be measured, from this process's CPU time:
//   cpu_j = cpu_seconds × watts_per_core + wall_seconds × static_watts   (both since construction)
// CLOCK_PROCESS_CPUTIME_ID counts every thread of the process, so a rank using 4 cores for 1 s
// is charged 4 core-seconds. Its numbers are estimates and are labelled so (source "estimate",
// measured() false) wherever they appear. As a Meter it reports only cpu_j (gpu_j = dram_j = 0).
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "energy/meter.h"

namespace joule::energy {

class EstimateMeter : public Meter {
 public:
  // watts_per_core, static_watts ≥ 0 (invalid input otherwise).
  EstimateMeter(double watts_per_core, double static_watts);

  MeterReading read() override;
  std::vector<std::string> sources() const override { return {"estimate"}; }
  bool measured() const override { return false; }

  // The formula, exposed for tests: energy of `cpu_s` CPU seconds over `wall_s` wall seconds.
  double energy_for(double cpu_s, double wall_s) const { return cpu_s * watts_per_core_ + wall_s * static_watts_; }

 private:
  double cpu_start_s_;
  double wall_start_s_;
  double watts_per_core_;
  double static_watts_;
};


}  // namespace joule::energy
