// PhaseClock: attributes this rank's wall time to training phases and cuts it into windows.
// The trainer calls enter() at every phase boundary; time since the previous boundary goes to the
// phase that was active. take_window() returns the seconds per phase since the last window and
// starts a new one (the trainer closes windows at step boundaries once energy.window_s passed).
// The energy accountant builds on the same phases and windows.
#pragma once

#include <array>
#include <cstddef>

namespace joule::energy {

enum class Phase { data, forward, backward, comm_wait, optimizer, eval, checkpoint, idle };
constexpr size_t kPhaseCount = 8;
const char* phase_name(Phase phase);  // "data", "forward", ..., "comm_wait", ...

using PhaseSeconds = std::array<double, kPhaseCount>;

class PhaseClock {
 public:
  explicit PhaseClock(double now_s);
  void enter(Phase phase, double now_s);  // closes the running phase at now_s
  Phase current() const { return current_; }
  // Seconds per phase since the previous window (the running phase is cut at now_s and goes on).
  PhaseSeconds take_window(double now_s);
  double window_start() const { return window_start_s_; }
  // Seconds of `phase` in the open window up to now_s (the running phase counted to now_s).
  double window_seconds(Phase phase, double now_s) const;

 private:
  Phase current_ = Phase::idle;
  double since_s_;
  double window_start_s_;
  PhaseSeconds seconds_{};
};

}  // namespace joule::energy
