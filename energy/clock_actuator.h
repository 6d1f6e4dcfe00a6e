// ClockActuator: the per-rank SM-clock knob, made safe (DESIGN.md §3, "Safety").
//
// Modes, chosen once by make_clock_actuator:
//   dry_run     (energy.clock.apply = DRY_RUN, the default) NVML is opened read-only for the
//               supported clocks and the current clock; lock_sm_clock records what it would do and
//               calls no setter.
//   clockd      APPLY with energy.clock.clockd_socket set: every lock/reset goes through the root
//               helper joule-clockd, which resets the GPU when this process's connection closes,
//               however the process died (SIGKILL included).
//   nvml        APPLY without a socket, running as root: nvmlDeviceSetGpuLockedClocks directly.
//               The clocks are reset once at construction (that also proves the permission).
//   unavailable no GPU named, NVML missing, no permission, not root and no socket, daemon
//               unreachable: reason() says why, lock_sm_clock changes nothing, training goes on.
// Invariants: a lock is always min = max = one of supported_mhz(), inside [min_mhz, max_mhz];
// whatever this actuator locked is undone by reset(), by the destructor, and by
// reset_clocks_emergency() (abort and signal paths). No call here throws for a missing GPU or
// missing rights; only an invalid config (bounds, GPU name) is an input error (exit status 2).
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "energy/clock_knob.h"

namespace joule::pb {
class ClockKnobConfig;
}

namespace joule::energy {

class NvmlDevice;
class ClockdClient;

enum class ClockApply { dry_run, apply };

struct ClockActuatorOptions {
  std::string gpu;                        // NVML index or PCI bus id; "" = no clock knob
  ClockApply apply = ClockApply::dry_run;
  unsigned min_mhz = 0;                   // knob bounds, MHz; 0 = the card's lowest supported clock
  unsigned max_mhz = 0;                   // 0 = the card's highest supported clock
  std::string clockd_socket;              // joule-clockd's Unix socket; "" = none
  bool (*is_root)() = nullptr;            // test seam; null = geteuid() == 0
};

// energy.clock (config.proto) as options; is_root stays null.
ClockActuatorOptions clock_actuator_options(const pb::ClockKnobConfig& config);

class ClockActuator final : public ClockKnob {
 public:
  ~ClockActuator() override;  // reset()
  ClockActuator(const ClockActuator&) = delete;
  ClockActuator& operator=(const ClockActuator&) = delete;

  bool available() const override { return mode_ != Mode::unavailable; }
  const char* mode() const override;  // "dry_run", "nvml", "clockd" or "unavailable"
  const std::string& reason() const override { return reason_; }  // why unavailable; "" otherwise
  const std::string& gpu() const { return gpu_; }         // as configured
  // Supported SM clocks within the bounds, ascending, MHz (empty when unavailable).
  const std::vector<unsigned>& supported_mhz() const override { return supported_; }

  // Locks the SM clock at the supported clock within bounds nearest `mhz` (ties: the lower one).
  // Never throws; a failure is in the returned message. NO_PERMISSION or a lost daemon turns the
  // actuator unavailable (mode() then says so).
  ClockChange lock_sm_clock(unsigned mhz) override;
  unsigned locked_mhz() const override { return locked_mhz_; }  // the knob's setting (dry run too); 0 = none
  unsigned current_mhz();  // the card's SM clock now, MHz; 0 when it cannot be read
  void reset() noexcept override;  // undo our lock (idempotent); in dry run only forgets the setting

  // For abort paths: undoes our lock without allocating (nvml: one NVML call; clockd: close the
  // socket, the daemon resets). Safe to call after or instead of reset().
  void emergency_reset() noexcept;
  // For signal handlers: only what is async-signal-safe (clockd: close the socket, the daemon
  // resets). An NVML lock is left to reset(): NVML may hold a lock of its own in the interrupted
  // thread, and calling it from the handler can deadlock.
  void signal_reset() noexcept;

 private:
  enum class Mode { unavailable, dry_run, nvml, clockd };
  ClockActuator();
  void disable(const std::string& why);  // -> unavailable; first undoes any lock
  unsigned snap(unsigned mhz) const;
  friend std::unique_ptr<ClockActuator> make_clock_actuator(const ClockActuatorOptions&, std::vector<std::string>&);

  Mode mode_ = Mode::unavailable;
  std::string reason_;
  std::string gpu_;           // as configured
  std::string where_;         // "NVML device 0", "gpu 0 via joule-clockd at /run/joule-clockd.sock"
  std::vector<unsigned> supported_;
  unsigned locked_mhz_ = 0;
  std::atomic<bool> holding_{false};  // a lock of ours is on the card
  std::unique_ptr<NvmlDevice> device_;   // dry_run, nvml
  std::unique_ptr<ClockdClient> clockd_;  // clockd
};

// Never throws for a missing NVML, permission or daemon: returns an unavailable actuator and
// pushes ONE warning sentence (nothing for gpu ""). Throws joule::Error (invalid input) naming
// energy.clock.gpu / min_mhz / max_mhz when the GPU name is malformed, min > max, or a bound lies
// outside the card's supported clocks.
std::unique_ptr<ClockActuator> make_clock_actuator(const ClockActuatorOptions& options,
                                                   std::vector<std::string>& warnings);

// Undoes the locks of every live actuator of this process (emergency_reset on each); for the
// communicator's abort path. noexcept, no allocation.
void reset_clocks_emergency() noexcept;
// The signal-handler form (signal_reset on each): joule-clockd connections are closed at once.
// NVML locks need reset_clocks_emergency() from an ordinary thread (joule-train's signal watcher),
// since mpirun follows SIGTERM with SIGKILL within seconds.
void reset_clocks_from_signal() noexcept;

// `joule-train --reset-clocks`: resets the locked clocks of options.gpu (every NVML device when
// "") through joule-clockd when options.clockd_socket is set, else NVML directly (root). Ignores
// options.apply: a reset is always the safe direction. Prints one line per GPU to `out`.
// Returns 0 when every reset succeeded, 1 otherwise.
int reset_clocks_command(const ClockActuatorOptions& options, std::FILE* out);

}  // namespace joule::energy
