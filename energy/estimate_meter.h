// EstimateMeter: CPU energy where nothing can be measured, from this process's CPU time:
//   cpu_j = cpu_seconds × watts_per_core + wall_seconds × static_watts   (both since construction)
// CLOCK_PROCESS_CPUTIME_ID counts every thread of the process, so a rank using 4 cores for 1 s
// is charged 4 core-seconds. Its numbers are estimates and are labelled so (source "estimate",
// measured() false) wherever they appear. As a Meter it reports only cpu_j (gpu_j = dram_j = 0).
#pragma once

#include <string>
#include <vector>

#include "energy/meter.h"

namespace joule::energy {

// EstimateMeter's read() const below hides this read() on purpose; GCC reports that at this line.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"

// The estimate as a Meter. Construct and use it as EstimateMeter (below).
class EstimateMeterBase : public Meter {
 public:
  // watts_per_core, static_watts ≥ 0 (invalid input otherwise).
  EstimateMeterBase(double watts_per_core, double static_watts);

  MeterReading read() override;
  std::vector<std::string> sources() const override { return {"estimate"}; }
  bool measured() const override { return false; }

  // The formula, exposed for tests: energy of `cpu_s` CPU seconds over `wall_s` wall seconds.
  double energy_for(double cpu_s, double wall_s) const { return cpu_s * watts_per_core_ + wall_s * static_watts_; }

 protected:
  double cpu_start_s_;
  double wall_start_s_;

 private:
  double watts_per_core_;
  double static_watts_;
};

// The reading of the pre-Meter interface (see EstimateMeter::read() const).
struct EnergyReading {
  double energy_j = 0;  // cumulative since the meter started
  double wall_s = 0;    // seconds since the meter started
  std::string source;   // "estimate"
  bool measured = false;
};

// TRANSITIONAL: a direct call `meter.read()` on an EstimateMeter lvalue still returns the old
// EnergyReading (this const read() hides Meter::read), so distributed/trainer.cpp compiles
// unchanged; through a Meter& (or make_cpu_meter) it is the MeterReading. Once trainer.cpp reads
// through Meter, delete this class body's read() and EnergyReading, and fold EstimateMeterBase
// into EstimateMeter.
class EstimateMeter : public EstimateMeterBase {
 public:
  using EstimateMeterBase::EstimateMeterBase;
  EnergyReading read() const;
};
#pragma GCC diagnostic pop

double process_cpu_seconds();  // CLOCK_PROCESS_CPUTIME_ID
double monotonic_seconds();    // CLOCK_MONOTONIC

}  // namespace joule::energy
