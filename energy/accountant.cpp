#include "energy/accountant.h"

#include "core/error.h"

namespace joule::energy {

EnergyAccountant::EnergyAccountant(Meter& meter) : meter_(meter), first_(meter.read()), last_(first_) {}

WindowEnergy EnergyAccountant::close_window(const PhaseSeconds& phase_seconds) {
  const MeterReading now = meter_.read();
  WindowEnergy w;
  w.seconds = now.time_s - last_.time_s;
  w.gpu_j = now.gpu_j - last_.gpu_j;
  w.cpu_j = now.cpu_j - last_.cpu_j;
  w.dram_j = now.dram_j - last_.dram_j;
  JOULE_ASSERT(w.gpu_j >= 0 && w.cpu_j >= 0 && w.dram_j >= 0, "energy went backwards: gpu ", w.gpu_j, " J, cpu ",
               w.cpu_j, " J, dram ", w.dram_j, " J");
  w.total_j = w.gpu_j + w.cpu_j + w.dram_j;
  w.phase_seconds = phase_seconds;
  double timed = 0;
  for (double s : phase_seconds) timed += s;
  for (size_t i = 0; i < kPhaseCount; ++i) {
    // no timed phase (an empty window): everything is idle
    const double share = timed > 0 ? phase_seconds[i] / timed : (i == static_cast<size_t>(Phase::idle) ? 1.0 : 0.0);
    w.phase_j[i] = w.total_j * share;
  }
  last_ = now;
  return w;
}

double EnergyAccountant::current_total_j() { return meter_.read().total_j() - first_.total_j(); }

}  // namespace joule::energy
