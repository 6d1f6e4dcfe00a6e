// NvmlLibrary: dlopen of libnvidia-ml, dlsym of the entry points joule uses, nvmlInit_v2.
// Every failure on the way is returned as a reason, never thrown: the caller decides whether a
// missing NVML means "estimate instead" (the meter) or "knob disabled" (the clock actuator).
#include "energy/nvml_api.h"

#include <dlfcn.h>

#include <cstdlib>

namespace joule::energy {
namespace {

// dlsym into a typed function pointer; false (and *why_not) when the symbol is missing.
template <class Fn>
bool resolve(void* handle, const char* name, Fn* fn, const std::string& path, std::string* why_not) {
  dlerror();  // clear
  void* symbol = dlsym(handle, name);
  if (symbol == nullptr) {
    const char* error = dlerror();
    *why_not = detail::concat("NVML library ", path, " lacks ", name, error ? ": " : "", error ? error : "");
    return false;
  }
  *fn = reinterpret_cast<Fn>(symbol);
  return true;
}

}  // namespace

std::string NvmlLibrary::default_path() {
  const char* env = std::getenv("JOULE_NVML_LIBRARY");
  return (env != nullptr && env[0] != '\0') ? std::string(env) : std::string("libnvidia-ml.so.1");
}

std::unique_ptr<NvmlLibrary> NvmlLibrary::open(std::string* why_not) {
  std::string ignored;
  if (why_not == nullptr) why_not = &ignored;
  std::unique_ptr<NvmlLibrary> lib(new NvmlLibrary());
  lib->path_ = default_path();
  lib->handle_ = dlopen(lib->path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib->handle_ == nullptr) {
    const char* error = dlerror();
    *why_not = detail::concat("cannot load NVML library ", lib->path_, ": ", error ? error : "dlopen failed");
    return nullptr;
  }
  void* h = lib->handle_;
  const std::string& path = lib->path_;
  const bool all_resolved =
      resolve(h, "nvmlInit_v2", &lib->nvmlInit_v2, path, why_not) &&
      resolve(h, "nvmlShutdown", &lib->nvmlShutdown, path, why_not) &&
      resolve(h, "nvmlErrorString", &lib->nvmlErrorString, path, why_not) &&
      resolve(h, "nvmlDeviceGetCount_v2", &lib->nvmlDeviceGetCount_v2, path, why_not) &&
      resolve(h, "nvmlDeviceGetHandleByIndex_v2", &lib->nvmlDeviceGetHandleByIndex_v2, path, why_not) &&
      resolve(h, "nvmlDeviceGetHandleByPciBusId_v2", &lib->nvmlDeviceGetHandleByPciBusId_v2, path, why_not) &&
      resolve(h, "nvmlDeviceGetName", &lib->nvmlDeviceGetName, path, why_not) &&
      resolve(h, "nvmlDeviceGetTotalEnergyConsumption", &lib->nvmlDeviceGetTotalEnergyConsumption, path,
              why_not) &&
      resolve(h, "nvmlDeviceGetFieldValues", &lib->nvmlDeviceGetFieldValues, path, why_not) &&
      resolve(h, "nvmlDeviceGetClockInfo", &lib->nvmlDeviceGetClockInfo, path, why_not) &&
      resolve(h, "nvmlDeviceGetMaxClockInfo", &lib->nvmlDeviceGetMaxClockInfo, path, why_not) &&
      resolve(h, "nvmlDeviceGetSupportedMemoryClocks", &lib->nvmlDeviceGetSupportedMemoryClocks, path, why_not) &&
      resolve(h, "nvmlDeviceGetSupportedGraphicsClocks", &lib->nvmlDeviceGetSupportedGraphicsClocks, path,
              why_not) &&
      resolve(h, "nvmlDeviceSetGpuLockedClocks", &lib->nvmlDeviceSetGpuLockedClocks, path, why_not) &&
      resolve(h, "nvmlDeviceResetGpuLockedClocks", &lib->nvmlDeviceResetGpuLockedClocks, path, why_not) &&
      resolve(h, "nvmlDeviceGetPowerManagementLimit", &lib->nvmlDeviceGetPowerManagementLimit, path, why_not);
  if (!all_resolved) return nullptr;  // the destructor dlcloses
  std::string optional_missing;
  if (!resolve(h, "nvmlDeviceGetCurrentClocksEventReasons", &lib->nvmlDeviceGetCurrentClocksEventReasons, path,
               &optional_missing))
    resolve(h, "nvmlDeviceGetCurrentClocksThrottleReasons", &lib->nvmlDeviceGetCurrentClocksEventReasons, path,
            &optional_missing);
  const nvmlReturn_t status = lib->nvmlInit_v2();
  if (status != NVML_SUCCESS) {
    *why_not = detail::concat("nvmlInit_v2 failed (library ", path, "): ", lib->error_string(status));
    return nullptr;
  }
  lib->initialized_ = true;
  return lib;
}

NvmlLibrary::~NvmlLibrary() {
  if (initialized_) JOULE_NVML_WARN(*this, nvmlShutdown());
  if (handle_ != nullptr && dlclose(handle_) != 0) {
    const char* error = dlerror();
    std::fprintf(stderr, "joule: warning: dlclose(%s) failed: %s [%s:%d]\n", path_.c_str(),
                 error ? error : "?", __FILE__, __LINE__);
  }
}

std::vector<std::string> clock_event_reason_names(unsigned long long mask) {
  static constexpr const char* kNames[] = {"gpu_idle",      "applications_clocks_setting", "sw_power_cap",
                                           "hw_slowdown",   "sync_boost",                  "sw_thermal_slowdown",
                                           "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting"};
  std::vector<std::string> names;
  for (unsigned bit = 0; bit < 64; ++bit) {
    const unsigned long long flag = 1ull << bit;
    if ((mask & flag) == 0) continue;
    if (bit < sizeof(kNames) / sizeof(kNames[0])) {
      names.emplace_back(kNames[bit]);
    } else {
      char text[32];
      std::snprintf(text, sizeof text, "unknown_0x%llx", flag);
      names.emplace_back(text);
    }
  }
  return names;
}

std::string NvmlLibrary::error_string(nvmlReturn_t status) const {
  const char* text = nvmlErrorString != nullptr ? nvmlErrorString(status) : nullptr;
  return detail::concat(text != nullptr ? text : "NVML error", " (NVML return code ", status, ")");
}

}  // namespace joule::energy
