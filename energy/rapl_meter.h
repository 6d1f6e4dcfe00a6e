// RaplMeter: CPU package and DRAM energy from the Linux powercap interface to RAPL (Intel; recent
// kernels show AMD Zen packages there too, without DRAM), and the meters built around it:
//   <root>/intel-rapl:N/     name "package-N"   energy_uj, max_energy_range_uj   → cpu_j  (Σ packages)
//   <root>/intel-rapl:N:M/   name "dram"        energy_uj, max_energy_range_uj   → dram_j (Σ dram zones)
// <root> is $JOULE_POWERCAP_ROOT when set (tests use a fake tree), else /sys/class/powercap. Other
// zones (core, uncore: parts of the package; psys: the whole platform) are not counted.
//
// Wraparound: energy_uj is a counter in [0, max_energy_range_uj] µJ that restarts at 0 after its
// maximum, so a reading below the previous one means one wrap and the energy in between is
// (max_energy_range_uj − previous) + current + 1 µJ. Two wraps between reads cannot be told from
// one: read or poll() more often than max_energy_range_uj / peak package power. The range is
// 2^32 counter units: ≈262 kJ at the usual 61 µJ unit, ≈65 kJ at the 15.3 µJ unit of server DRAM
// domains, i.e. ≥ 3 minutes even at 350 W; one read per energy window (seconds) is far inside that.
//
// Package energy is the whole socket's: ranks sharing a node each see all of it (joule attributes it
// once per node with distributed/node_shared_meter.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "energy/meter.h"

namespace joule::energy {

class RaplMeter : public Meter {
 public:
  struct Zone {
    std::string id;     // "intel-rapl:0", "intel-rapl:0:2"
    std::string name;   // "package-0", "dram"
    std::string path;   // the zone directory
    bool dram = false;  // else a package
    uint64_t max_range_uj = 0;
    uint64_t last_uj = 0;      // the counter at the last successful read
    uint64_t total_uj = 0;     // unwrapped energy since open
    uint64_t read_errors = 0;  // reads that failed after open (the zone then gains nothing)
  };

  // $JOULE_POWERCAP_ROOT when set and non-empty, else "/sys/class/powercap".
  static std::string default_root();

  // Opens every package zone and DRAM sub-zone under `root` and takes their first readings.
  // Returns null when RAPL is unusable: no tree, no package zone, or a package zone's energy_uj
  // or max_energy_range_uj unreadable (a partial package sum must not pass as measured); *why
  // then says so in one sentence. An unreadable DRAM zone is left out with a note in *why while
  // the meter is still returned. *why is cleared first and may be null.
  static std::unique_ptr<RaplMeter> open(const std::string& root, std::string* why);

  // Cumulative energy since open: cpu_j = Σ packages, dram_j = Σ DRAM zones, gpu_j = 0.
  MeterReading read() override;
  // Reads the counters and unwraps them without returning a reading: call it between windows
  // when windows may be longer than the wrap limit above. Safe from another thread.
  void poll();
  std::vector<std::string> sources() const override { return {"rapl"}; }
  bool measured() const override { return true; }

  std::vector<Zone> zones() const;  // a snapshot, for logs and tests

  // µJ consumed between two counter values `previous` → `current` of a counter whose range is
  // [0, max_range_uj]: current − previous, or one wrap when current < previous. A `previous`
  // beyond the range (the counter was reset, not wrapped) counts `current` alone.
  static uint64_t counter_delta(uint64_t previous, uint64_t current, uint64_t max_range_uj);

 private:
  explicit RaplMeter(std::vector<Zone> zones) : zones_(std::move(zones)) {}
  void update_locked();

  mutable std::mutex mutex_;  // guards zones_: poll() may run on a timer thread
  std::vector<Zone> zones_;
};

// The CPU meter of a rank: RaplMeter on default_root() when it opens, else an EstimateMeter
// (process CPU seconds × watts_per_core + wall seconds × static_watts, labelled "estimate").
// *warning (may be null) is cleared, then set to one sentence for the caller to print once when
// falling back to the estimate or when RAPL left a DRAM zone out.
std::unique_ptr<Meter> make_cpu_meter(double watts_per_core, double static_watts, std::string* warning);

// Sums two meters domain by domain (typically NVML for the GPU and make_cpu_meter for the CPU).
// sources() = gpu's then cpu's; measured() only when both are; time_s = the later read.
class CompositeMeter : public Meter {
 public:
  CompositeMeter(std::unique_ptr<Meter> gpu, std::unique_ptr<Meter> cpu);  // both non-null
  MeterReading read() override;
  std::vector<std::string> sources() const override;
  bool measured() const override { return gpu_->measured() && cpu_->measured(); }

 private:
  std::unique_ptr<Meter> gpu_;
  std::unique_ptr<Meter> cpu_;
};

}  // namespace joule::energy
