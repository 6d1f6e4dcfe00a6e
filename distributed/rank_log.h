// RankLog: this rank's accounting log, rank-RRRRR.jsonl in the run directory. The trainer marks
// phase boundaries on its PhaseClock and reports step boundaries; once energy.window_s has passed
// a window closes: the meter is read, the window's energy is split by domain and by phase
// (EnergyAccountant) and one RankWindowRecord is appended, flushed per line (a killed run leaves
// only complete lines). Windows telescope, so their energies sum to the run total.
#pragma once

#include <cstdint>
#include <string>

#include "core/file_util.h"
#include "distributed/communicator.h"
#include "energy/accountant.h"
#include "energy/meter.h"
#include "energy/phase_clock.h"

namespace joule {

class RankLog {
 public:
  // Creates the run directory on this node if needed (ranks may not share rank 0's file system).
  RankLog(const std::string& run_dir, const Communicator& comm, energy::Meter& meter, double window_s,
          const std::string& precision);
  energy::PhaseClock& clock() { return clock_; }

  // At a step boundary (`samples` trained by this rank in the step): closes the window once
  // window_s has passed, or at once when `force` (the end of the run).
  void step_done(int64_t step, int64_t samples, int64_t global_batch, bool force);

  double energy_j() { return accountant_.current_total_j(); }  // this rank, since the start (reads the meter)
  double closed_energy_j() const { return accountant_.total_j(); }  // up to the last closed window
  uint32_t windows() const { return window_; }

 private:
  const Communicator& comm_;
  energy::Meter& meter_;
  energy::PhaseClock clock_;
  energy::EnergyAccountant accountant_;
  double window_s_;
  std::string precision_;
  double wall_start_;
  LineWriter writer_;
  uint32_t window_ = 0;
  int64_t first_step_ = 0;
  int64_t samples_ = 0;
};

double unix_seconds();  // forwarding: core/clock.h's; removed when the trainer split lands

}  // namespace joule
