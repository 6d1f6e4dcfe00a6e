#include "energy/phase_clock.h"

namespace joule::energy {

const char* phase_name(Phase phase) {
  static const char* const names[kPhaseCount] = {"data", "forward", "backward", "comm_wait",
                                                 "optimizer", "eval", "checkpoint", "idle"};
  return names[static_cast<size_t>(phase)];
}

PhaseClock::PhaseClock(double now_s) : since_s_(now_s), window_start_s_(now_s) {}

void PhaseClock::enter(Phase phase, double now_s) {
  seconds_[static_cast<size_t>(current_)] += now_s - since_s_;
  since_s_ = now_s;
  current_ = phase;
}

double PhaseClock::window_seconds(Phase phase, double now_s) const {
  return seconds_[static_cast<size_t>(phase)] + (phase == current_ ? now_s - since_s_ : 0.0);
}

PhaseSeconds PhaseClock::take_window(double now_s) {
  enter(current_, now_s);
  PhaseSeconds window = seconds_;
  seconds_ = {};
  window_start_s_ = now_s;
  return window;
}

}  // namespace joule::energy
