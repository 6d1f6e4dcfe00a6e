// NvmlDevice: one GPU seen through NVML (energy counter, instant power, SM clocks, clock locking).
// NvmlMeter: the Meter of a rank's GPU, from deltas of NVML's total-energy counter (mJ since the
// driver loaded, Volta and newer). The power gauge is never integrated (DESIGN.md §3): it lags by
// about a second; the instant-power field (186) is for timelines only.
// A rank's CUDA device maps to its NVML device by PCI bus id: CUDA and NVML indices may differ.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "energy/meter.h"
#include "energy/nvml_api.h"

namespace joule::energy {

// Outcome of a clock setter. no_permission (not root) and not_supported (pre-Volta, some SKUs) are
// expected outcomes that disable the clock knob with a warning; they are returned, never thrown.
enum class ClockStatus { ok, no_permission, not_supported, error };
const char* to_string(ClockStatus status);

class NvmlDevice {
 public:
  // Both throw joule::Error (internal) with NVML's reason when there is no such device.
  // bus_id: "domain:bus:device.function" in hex as CUDA prints it (cudaDeviceGetPCIBusId,
  // "0000:1b:00.0") or as NVML does ("00000000:1B:00.0").
  static NvmlDevice by_index(std::shared_ptr<const NvmlLibrary> lib, unsigned index);
  static NvmlDevice by_pci_bus_id(std::shared_ptr<const NvmlLibrary> lib, const std::string& bus_id);

  const std::string& name() const { return name_; }    // e.g. "NVIDIA H200"
  const std::string& where() const { return where_; }  // "NVML device 0" / "NVML device at PCI 0000:1b:00.0"
  const NvmlLibrary& library() const { return *lib_; }
  // NVML's handle: the same device opened by index and by bus id has the same handle in a process.
  nvmlDevice_t handle() const { return handle_; }

  // Energy since the driver loaded, mJ (monotone; updated about every 100 ms on an H200). Throws
  // joule::Error with NVML's reason, e.g. "Not Supported" before Volta.
  std::uint64_t total_energy_mj() const;
  double instant_power_w() const;        // field 186; for timelines, never for energy
  unsigned sm_clock_mhz() const;         // current SM clock
  unsigned max_sm_clock_mhz() const;     // highest SM clock the card runs at
  double power_limit_w() const;          // current power management limit
  // SM clocks that can be locked, ascending, at the highest memory clock (H200: 345..1980 MHz in
  // 15 MHz steps at 3201 MHz).
  std::vector<unsigned> supported_sm_clocks() const;
  // Why the card runs below the clock asked for: NVML's clock event (throttle) reason bits, or
  // false with NVML's reason in *detail when the library or the card cannot say.
  bool clock_event_reasons(unsigned long long* mask, std::string* detail = nullptr) const;

  // Locks the SM clock into [min_mhz, max_mhz] (root, Volta+), or undoes any lock. *detail (when
  // given) receives NVML's message on anything but ok. Callers own restoring clocks on every exit.
  ClockStatus set_locked_clocks(unsigned min_mhz, unsigned max_mhz, std::string* detail = nullptr);
  ClockStatus reset_locked_clocks(std::string* detail = nullptr);

 private:
  NvmlDevice(std::shared_ptr<const NvmlLibrary> lib, nvmlDevice_t handle, std::string where);
  ClockStatus clock_status(nvmlReturn_t status, std::string* detail) const;

  std::shared_ptr<const NvmlLibrary> lib_;  // keeps NVML loaded while the handle lives
  nvmlDevice_t handle_;
  std::string where_;
  std::string name_;
};

// GPU energy of one device: gpu_j = (counter − counter at construction) / 1000; cpu_j = dram_j = 0.
// A counter that goes backwards is an error (joule::Error, internal), never a negative energy.
class NvmlMeter : public Meter {
 public:
  explicit NvmlMeter(NvmlDevice device);  // reads the counter's start value
  MeterReading read() override;
  std::vector<std::string> sources() const override { return {"nvml"}; }
  bool measured() const override { return true; }
  NvmlDevice& device() { return device_; }

 private:
  NvmlDevice device_;
  std::uint64_t start_mj_;
  std::uint64_t last_mj_;
};

// Opens NVML and the device named by `pci_bus_id_or_index`: all decimal digits = NVML index,
// empty = index 0, anything else = PCI bus id (the CUDA device's, so each rank meters its own GPU).
// Null with a reason in *why_not when NVML is unusable or the device is not there.
std::unique_ptr<NvmlDevice> open_nvml_device(const std::string& pci_bus_id_or_index, std::string* why_not);

// As above, and also null with a reason when the device has no energy counter (NOT_SUPPORTED).
// On null the caller falls back to the estimate with one warning that quotes *why_not.
std::unique_ptr<Meter> make_gpu_meter(const std::string& pci_bus_id_or_index, std::string* why_not);

}  // namespace joule::energy
