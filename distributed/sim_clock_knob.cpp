// SimClockKnob (sim_clock_knob.h).
#include "distributed/sim_clock_knob.h"

#include <algorithm>
#include <cmath>

#include "energy/clock_snap.h"

namespace joule {

std::vector<unsigned> sim_supported_clocks(const sim::GpuModel& gpu) {
  std::vector<unsigned> clocks;
  for (double f : gpu.clocks_mhz()) clocks.push_back(static_cast<unsigned>(std::lround(f)));
  std::sort(clocks.begin(), clocks.end());
  clocks.erase(std::unique(clocks.begin(), clocks.end()), clocks.end());
  return clocks;
}

SimClockKnob::SimClockKnob(const sim::GpuModel& gpu, std::shared_ptr<const std::vector<unsigned>> supported)
    : gpu_(&gpu), supported_(std::move(supported)) {}

energy::ClockChange SimClockKnob::lock_sm_clock(unsigned mhz) {
  energy::ClockChange change;
  change.requested_mhz = mhz;
  change.snapped_mhz = energy::nearest_supported_clock(*supported_, mhz);
  change.applied_mhz = static_cast<unsigned>(std::lround(gpu_->effective_clock_mhz(change.snapped_mhz)));
  change.applied = true;
  locked_mhz_ = change.snapped_mhz;
  change.message = "sim: locked the SM clock at " + std::to_string(change.snapped_mhz) + " MHz (requested " +
                   std::to_string(mhz) + "); the model runs it at " + std::to_string(change.applied_mhz) + " MHz";
  if (change.applied_mhz < change.snapped_mhz) change.message += " (power cap)";
  return change;
}

double SimClockKnob::running_mhz() const { return locked_mhz_ != 0 ? locked_mhz_ : gpu_->f_max_mhz(); }

}  // namespace joule
