// NvmlLibrary: NVML loaded at run time with dlopen, so joule builds and runs where there is no NVML
// (no header on our machines, no driver on CPU nodes). The types below are declared by hand from
// the NVML API (DESIGN.md §5); only the functions joule uses are resolved, by their versioned names
// where NVML has several. The library path is $JOULE_NVML_LIBRARY, else "libnvidia-ml.so.1".
// One NvmlLibrary = one dlopen + one nvmlInit_v2; the destructor undoes both (NVML and dlopen are
// reference counted, so several instances may coexist in one process).
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace joule::energy {

// ---- NVML types, by hand (ABI of libnvidia-ml.so.1) ----------------------------------------------
using nvmlReturn_t = int;
enum : nvmlReturn_t {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_LIBRARY_NOT_FOUND = 12,
  NVML_ERROR_FUNCTION_NOT_FOUND = 13,
  NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_UNKNOWN = 999,
};

struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;  // opaque

using nvmlClockType_t = int;
enum : nvmlClockType_t { NVML_CLOCK_GRAPHICS = 0, NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2 };

// Field ids for nvmlDeviceGetFieldValues (scope 0 = the whole GPU).
enum : unsigned {
  NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION = 83,  // mJ since driver load
  NVML_FI_DEV_POWER_AVERAGE = 185,            // mW, averaged over ~1 s
  NVML_FI_DEV_POWER_INSTANT = 186,            // mW, instantaneous
};

// Reasons a card runs below the clock asked for (nvmlDeviceGetCurrentClocksEventReasons bits).
enum : unsigned long long {
  NVML_CLOCKS_EVENT_REASON_GPU_IDLE = 0x1,
  NVML_CLOCKS_EVENT_REASON_APPLICATIONS_CLOCKS_SETTING = 0x2,
  NVML_CLOCKS_EVENT_REASON_SW_POWER_CAP = 0x4,
  NVML_CLOCKS_THROTTLE_REASON_HW_SLOWDOWN = 0x8,
  NVML_CLOCKS_EVENT_REASON_SYNC_BOOST = 0x10,
  NVML_CLOCKS_EVENT_REASON_SW_THERMAL_SLOWDOWN = 0x20,
  NVML_CLOCKS_THROTTLE_REASON_HW_THERMAL_SLOWDOWN = 0x40,
  NVML_CLOCKS_THROTTLE_REASON_HW_POWER_BRAKE_SLOWDOWN = 0x80,
  NVML_CLOCKS_EVENT_REASON_DISPLAY_CLOCK_SETTING = 0x100,
};
// Names of the set bits, lowest first ("gpu_idle", "sw_power_cap", ..., "unknown_0x..." for the
// rest); empty for 0.
std::vector<std::string> clock_event_reason_names(unsigned long long mask);

using nvmlValueType_t = int;
enum : nvmlValueType_t {
  NVML_VALUE_TYPE_DOUBLE = 0,
  NVML_VALUE_TYPE_UNSIGNED_INT = 1,
  NVML_VALUE_TYPE_UNSIGNED_LONG = 2,
  NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3,
  NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4,
  NVML_VALUE_TYPE_SIGNED_INT = 5,
  NVML_VALUE_TYPE_UNSIGNED_SHORT = 6,
};

union nvmlValue_t {
  double dVal;
  int siVal;
  unsigned uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  long long sllVal;
  unsigned short usVal;
};

struct nvmlFieldValue_t {
  unsigned fieldId;
  unsigned scopeId;
  long long timestamp;    // µs since the epoch, when the value was sampled
  long long latencyUsec;  // how long the query took
  nvmlValueType_t valueType;
  nvmlReturn_t nvmlReturn;  // per entry: check it, the call itself may still return SUCCESS
  nvmlValue_t value;
};
static_assert(sizeof(nvmlFieldValue_t) == 40, "nvmlFieldValue_t must match NVML's layout");

// ---- the loaded library -----------------------------------------------------------------------------
class NvmlLibrary {
 public:
  // Loads and initializes NVML. Returns null with a reason in *why_not (library missing, a symbol
  // missing, nvmlInit_v2 failed) instead of throwing: a machine without NVML is not an error.
  static std::unique_ptr<NvmlLibrary> open(std::string* why_not);
  ~NvmlLibrary();  // nvmlShutdown, then dlclose; only warns on failure
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  static std::string default_path();  // $JOULE_NVML_LIBRARY or "libnvidia-ml.so.1"
  const std::string& path() const { return path_; }
  std::string error_string(nvmlReturn_t status) const;  // nvmlErrorString + the numeric code

  // Resolved entry points; each returns an nvmlReturn_t (call them through JOULE_NVML_CHECK).
  nvmlReturn_t (*nvmlInit_v2)() = nullptr;
  nvmlReturn_t (*nvmlShutdown)() = nullptr;
  const char* (*nvmlErrorString)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetCount_v2)(unsigned* count) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetHandleByIndex_v2)(unsigned index, nvmlDevice_t* device) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetHandleByPciBusId_v2)(const char* bus_id, nvmlDevice_t* device) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetName)(nvmlDevice_t, char* name, unsigned length) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetTotalEnergyConsumption)(nvmlDevice_t, unsigned long long* mj) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetFieldValues)(nvmlDevice_t, int count, nvmlFieldValue_t* values) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetClockInfo)(nvmlDevice_t, nvmlClockType_t, unsigned* mhz) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetMaxClockInfo)(nvmlDevice_t, nvmlClockType_t, unsigned* mhz) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetSupportedMemoryClocks)(nvmlDevice_t, unsigned* count, unsigned* mhz) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetSupportedGraphicsClocks)(nvmlDevice_t, unsigned mem_mhz, unsigned* count,
                                                       unsigned* mhz) = nullptr;
  nvmlReturn_t (*nvmlDeviceSetGpuLockedClocks)(nvmlDevice_t, unsigned min_mhz, unsigned max_mhz) = nullptr;
  nvmlReturn_t (*nvmlDeviceResetGpuLockedClocks)(nvmlDevice_t) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetPowerManagementLimit)(nvmlDevice_t, unsigned* mw) = nullptr;
  // Optional (null when the library has neither name): nvmlDeviceGetCurrentClocksEventReasons
  // (NVML 12.x), else its older name nvmlDeviceGetCurrentClocksThrottleReasons. Bits above.
  nvmlReturn_t (*nvmlDeviceGetCurrentClocksEventReasons)(nvmlDevice_t, unsigned long long* reasons) = nullptr;

 private:
  NvmlLibrary() = default;
  void* handle_ = nullptr;  // from dlopen
  bool initialized_ = false;
  std::string path_;
};

}  // namespace joule::energy

// Every NVML call goes through one of these: CHECK throws joule::Error (internal) with the call,
// nvmlErrorString and file:line; WARN (for destructors) prints the same and carries on.
#define JOULE_NVML_CHECK(lib, call)                                                                \
  do {                                                                                             \
    const ::joule::energy::nvmlReturn_t joule_nvml_status_ = (call);                               \
    if (joule_nvml_status_ != ::joule::energy::NVML_SUCCESS)                                       \
      JOULE_FAIL(#call, " failed: ", (lib).error_string(joule_nvml_status_));                      \
  } while (0)

#define JOULE_NVML_WARN(lib, call)                                                                 \
  do {                                                                                             \
    const ::joule::energy::nvmlReturn_t joule_nvml_status_ = (call);                               \
    if (joule_nvml_status_ != ::joule::energy::NVML_SUCCESS)                                       \
      std::fprintf(stderr, "joule: warning: %s failed: %s [%s:%d]\n", #call,                      \
                   (lib).error_string(joule_nvml_status_).c_str(), __FILE__, __LINE__);          \
  } while (0)
