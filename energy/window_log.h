// WindowLog: one rank's energy accounting log, rank-RRRRR.jsonl in the run directory. The trainer
// marks phase boundaries on its PhaseClock, counts samples per step, and closes a window at a step
// boundary that every rank agreed on (window_due() is this rank's vote; the trainer's per-step
// agreement turns the votes into one decision, so window k ends at the same step on every rank).
// Closing reads the meter, splits the window's energy by domain and by phase (EnergyAccountant)
// and appends one RankWindowRecord with the knob state and any decision taken at its end; each
// line is one write, so a killed run leaves only complete lines. Windows telescope: their energies
// sum to the run total.
//
// Meter reads happen at construction, at each window close and in energy_j(); the trainer calls
// them at the same points on every rank (a node-shared meter may be collective among the node's
// ranks).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/file_util.h"
#include "energy/accountant.h"
#include "energy/meter.h"
#include "energy/phase_clock.h"

namespace joule::energy {

// What an existing rank log holds (a resumed run appends to it).
struct LogTotals {
  uint32_t windows = 0;   // window records
  double energy_j = 0;    // their energy_j.total summed
  uint32_t restarts = 0;  // restart records
};
// The complete lines of the log at `path`; a missing file is empty, unparsable lines are skipped.
LogTotals read_log_totals(const std::string& path);

struct WindowKnobs {
  uint32_t batch_size = 0;    // global batch at the window's end
  std::string precision;      // "f32" | "bf16"
  uint32_t sm_clock_mhz = 0;  // this rank's locked SM clock; 0 = none
};

class WindowLog {
 public:
  // path: the log file (created; its folder must exist). now_s: monotonic seconds, wall_s: Unix
  // seconds, both now. The meter must outlive the log.
  WindowLog(const std::string& path, uint32_t rank, std::string host, Meter& meter, double window_s, double now_s,
            double wall_s);
  // The same log written to `sink`, one complete line per call, without its newline (the cluster
  // simulator buffers thousands of ranks' lines and appends them in batches).
  WindowLog(std::function<void(const std::string&)> sink, uint32_t rank, std::string host, Meter& meter,
            double window_s, double now_s, double wall_s);
  PhaseClock& clock() { return clock_; }

  // A step finished at `step` (1-based) in which this rank trained `samples` samples.
  void step_done(int64_t step, int64_t samples);
  // This rank's vote: has window_s passed since the window opened?
  bool window_due(double now_s) const { return now_s - clock_.window_start() >= window_s_; }
  // Closes the window at now_s (after step `step`) and writes its record. `decide`, when given, sees
  // the window's energy before the record is written and returns a decision taken at its end
  // (appended to `decision`; the energy controller, which may communicate inside it).
  WindowEnergy close_window(int64_t step, const WindowKnobs& knobs, const std::string& decision, double now_s,
                            const std::function<std::string(const WindowEnergy&)>& decide = {});
  // close_window's two halves, for a caller that decides on every rank's window before any record
  // is written (the cluster simulator): take_window closes the window (reads the meter, splits the
  // energy by phase), write_window then appends its record. One write_window after each take_window.
  WindowEnergy take_window(double now_s);
  void write_window(int64_t step, const WindowKnobs& knobs, const std::string& decision, const WindowEnergy& energy);

  // A resumed run: window numbers continue after `windows`, and the energy before (earlier
  // segments of the run) counts in energy_j() and closed_energy_j(). Before the first close.
  void continue_from(uint32_t windows, double prior_energy_j);
  void write_line(const std::string& json) {  // a record of another kind (restart)
    if (sink_) {
      sink_(json);
    } else {
      writer_.write_line(json);
    }
  }

  // this rank since the run started, all segments (reads the meter)
  double energy_j() { return prior_j_ + accountant_.current_total_j(); }
  double closed_energy_j() const { return prior_j_ + accountant_.total_j(); }  // up to the last closed window
  uint32_t windows() const { return window_; }

 private:
  uint32_t rank_;
  std::string host_;
  Meter& meter_;
  PhaseClock clock_;
  EnergyAccountant accountant_;
  double window_s_;
  double wall_start_;
  LineWriter writer_;
  std::function<void(const std::string&)> sink_;  // instead of writer_ when set
  uint32_t window_ = 0;
  int64_t first_step_ = 0;  // 0: no step in the open window yet
  int64_t samples_ = 0;
  double prior_j_ = 0;
  double taken_length_s_ = -1;  // the window take_window closed, until write_window (< 0: none)
};

}  // namespace joule::energy
