// ClockKnob: one rank's SM-clock knob, the interface through which the trainer and joule-sim apply
// the controller's clock decisions, so that a simulated rank's clock is set the way a GPU's is.
// Implementations: ClockActuator (energy/clock_actuator.h: a GPU through NVML or joule-clockd, a
// dry run, or unavailable) and SimClockKnob (distributed/sim_clock_knob.h: a simulated GPU).
// Invariant of both: a lock is one of supported_mhz(), the one nearest the request
// (nearest_supported_clock, energy/clock_snap.h).
#pragma once

#include <string>
#include <vector>

namespace joule::energy {

// The record of one lock_sm_clock call, for rank logs and decisions.
struct ClockChange {
  unsigned requested_mhz = 0;
  unsigned snapped_mhz = 0;   // the supported clock within bounds nearest the request (0: unavailable)
  unsigned applied_mhz = 0;   // SM clock read back afterwards (dry run: the card's clock, untouched)
  bool applied = false;       // a lock was set on the card (never in dry run)
  std::vector<std::string> throttle_reasons;  // NVML clock event reasons read back (e.g. sw_power_cap)
  std::string message;        // one line saying what happened, for the log
};

class ClockKnob {
 public:
  virtual ~ClockKnob() = default;
  virtual bool available() const = 0;
  virtual const char* mode() const = 0;             // "dry_run", "nvml", "clockd", "sim" or "unavailable"
  virtual const std::string& reason() const = 0;    // why unavailable; "" otherwise
  // Supported SM clocks within the knob's bounds, ascending, MHz (empty when unavailable).
  virtual const std::vector<unsigned>& supported_mhz() const = 0;
  // Locks the SM clock at the supported clock nearest `mhz` (ties: the lower one). Never throws; a
  // failure is in the returned message.
  virtual ClockChange lock_sm_clock(unsigned mhz) = 0;
  virtual unsigned locked_mhz() const = 0;  // the knob's setting (dry run too); 0 = none
  virtual void reset() noexcept = 0;        // undo the lock (idempotent)
};

}  // namespace joule::energy
