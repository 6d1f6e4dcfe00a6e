// SimClockKnob: a simulated GPU's SM-clock knob (energy/clock_knob.h), one per joule-sim rank, so
// the controller's clock decisions reach a simulated rank through the interface they reach a GPU
// through in training: the calibration's supported clocks, a lock snapped to the nearest of them
// (ties: the lower one, as ClockActuator), and what the card reads back, the model's effective
// clock (a power cap holds it lower: sim.proto).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "energy/clock_knob.h"
#include "energy/sim/gpu_model.h"

namespace joule {

// The calibration's clocks f_max down to f_min by f_step, rounded to whole MHz, ascending.
std::vector<unsigned> sim_supported_clocks(const sim::GpuModel& gpu);

class SimClockKnob final : public energy::ClockKnob {
 public:
  // gpu: not owned, outlives the knob; supported: sim_supported_clocks(gpu), shared by the ranks.
  SimClockKnob(const sim::GpuModel& gpu, std::shared_ptr<const std::vector<unsigned>> supported);

  bool available() const override { return true; }
  const char* mode() const override { return "sim"; }
  const std::string& reason() const override { return reason_; }
  const std::vector<unsigned>& supported_mhz() const override { return *supported_; }
  energy::ClockChange lock_sm_clock(unsigned mhz) override;
  unsigned locked_mhz() const override { return locked_mhz_; }
  void reset() noexcept override { locked_mhz_ = 0; }
  // The requested clock the rank runs at: the lock, or f_max without one (the model applies the cap).
  double running_mhz() const;

 private:
  const sim::GpuModel* gpu_;
  std::shared_ptr<const std::vector<unsigned>> supported_;
  unsigned locked_mhz_ = 0;
  std::string reason_;  // always "": a simulated knob is available
};

}  // namespace joule
