// joule-report's knob view: the run's windows grouped by knob setting (batch size, precision, SM
// clock) with energy and time per sample for each setting tried, and the list of knob decisions.
// Settings are keyed by rank 0's clock (with per-rank clocks the other ranks' windows count under
// the setting rank 0 ran; the header says "rank0 MHz").
#include "energy/report_knobs.h"

#include <cstdio>

namespace joule::energy {

void add_knob_view(const std::vector<std::vector<pb::RankWindowRecord>>& windows, pb::RunReport& report) {
  for (size_t r = 0; r < windows.size(); ++r) {
    for (const pb::RankWindowRecord& w : windows[r]) {
      pb::KnobSetting* setting = nullptr;
      for (pb::KnobSetting& s : *report.mutable_settings())
        if (s.batch_size() == w.batch_size() && s.precision() == w.precision() &&
            (r > 0 || s.sm_clock_mhz() == w.sm_clock_mhz()))
          setting = &s;
      if (setting == nullptr) {
        setting = report.add_settings();
        setting->set_batch_size(w.batch_size());
        setting->set_precision(w.precision());
        setting->set_sm_clock_mhz(w.sm_clock_mhz());
      }
      setting->set_windows(setting->windows() + 1);
      if (r == 0) setting->set_seconds(setting->seconds() + (w.t_end() - w.t_start()));
      setting->set_energy_j(setting->energy_j() + w.energy_j().total());
      setting->set_samples(setting->samples() + w.samples());
      if (r == 0 && !w.decision().empty()) {
        pb::KnobDecision* d = report.add_decisions();
        d->set_step(w.step_last());
        d->set_decision(w.decision());
      }
    }
  }
  for (pb::KnobSetting& s : *report.mutable_settings()) {
    s.set_j_per_sample(s.samples() > 0 ? s.energy_j() / s.samples() : 0);
    s.set_samples_per_s(s.seconds() > 0 ? s.samples() / s.seconds() : 0);
  }
}

std::string format_knob_view(const pb::RunReport& report) {
  if (report.settings_size() <= 1 && report.decisions_size() == 0) return "";
  std::string out = "by knob setting:\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %6s %-9s %9s %8s %9s %10s %10s %10s\n", "batch", "precision", "rank0 MHz",
                "windows", "seconds", "energy J", "samples/s", "J/sample");
  out += line;
  for (const pb::KnobSetting& s : report.settings()) {
    std::snprintf(line, sizeof line, "  %6u %-9s %9s %8u %9.1f %10.1f %10.0f %10.4g\n", s.batch_size(),
                  s.precision().c_str(), s.sm_clock_mhz() > 0 ? std::to_string(s.sm_clock_mhz()).c_str() : "-",
                  s.windows(), s.seconds(), s.energy_j(), s.samples_per_s(), s.j_per_sample());
    out += line;
  }
  // the controller's own decisions are in the timeline (energy/report_timeline.h), with their numbers
  const bool timeline = report.timeline_size() > 0;
  for (const pb::KnobDecision& d : report.decisions())
    if (!timeline || d.decision().rfind("controller: ", 0) != 0)
      out += "decision after step " + std::to_string(d.step()) + ": " + d.decision() + "\n";
  return out;
}

}  // namespace joule::energy
