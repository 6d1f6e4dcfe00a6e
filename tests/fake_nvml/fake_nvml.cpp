// Fake NVML: a stand-in for libnvidia-ml.so.1 so the real NVML code path (dlopen, dlsym, return
// codes, field values, clock lists, setters) is tested on machines without a GPU. It is built as
// build/lib/libjoule_fake_nvml.so and loaded through JOULE_NVML_LIBRARY.
//
// Like the C library it stands in for, it keeps global state (the init count, the devices, their
// energy counters and locked clocks): the globals below are that state, guarded by one mutex, and
// the project's no-globals rule does not apply to this file.
//
// Model (DESIGN.md §5, the lent H200): power = idle + load × (max − idle) × (clock / 1980)²,
// idle 127 W, max 700 W; clock = the locked maximum (snapped to a supported clock) when locked,
// else 1980 MHz. The energy counter (mJ) integrates that power over CLOCK_MONOTONIC wall time,
// continuously (the real one steps about every 100 ms). Supported graphics clocks 345..1980 MHz
// in 15 MHz steps at the one memory clock 3201 MHz.
//
// Environment, read at every nvmlInit_v2:
//   FAKE_NVML_DEVICES  number of devices, 1..16 (default 1); PCI bus ids "00000000:1B:00.0", ...
//   FAKE_NVML_LOAD     load level in [0, 1] (default 0.5)
//   FAKE_NVML_FAIL     init                 → nvmlInit_v2 returns 9 (DRIVER_NOT_LOADED)
//                      no_permission        → the clock setters return 4 (NO_PERMISSION)
//                      energy_not_supported → the energy counter and field 83 return 3
//   FAKE_NVML_MAX_HELD_MHZ  a card at its power cap: it cannot hold SM clocks above this, the
//                      clock reads back at most this and the event reasons say sw_power_cap
//                      (default: none, every supported clock holds)
//   FAKE_NVML_STATE_FILE after every setter call (failed ones included) the fake rewrites this
//                      file (write + rename, so a reader never sees half of it): one line per
//                      device, "locked <dev> <min> <max>", "reset <dev>" (reset since it was
//                      locked or reset) or "default <dev>" (never touched), then
//                      "setter_calls <n>". Lets a test in another process watch a daemon's calls.
// Clock event reasons: sw_power_cap as above, gpu_idle when FAKE_NVML_LOAD is 0, else none.
// Extra exports for tests: fakeNvmlSetterCalls() (setter calls, failed ones included) and
// fakeNvmlReset() (zero the count, unlock every clock), fakeNvmlRewindEnergy(mJ) (a counter going
// backwards, as after a driver reload).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <type_traits>

#include "energy/nvml_api.h"

using joule::energy::nvmlClockType_t;
using joule::energy::nvmlDevice_t;
using joule::energy::nvmlFieldValue_t;
using joule::energy::nvmlReturn_t;
namespace nv = joule::energy;

// One fake GPU; nvmlDevice_t points at one of these.
struct joule::energy::nvmlDevice_st {
  unsigned index = 0;
  unsigned bus = 0;
  double energy_mj = 0;     // integrated up to updated_s
  double updated_s = -1;    // < 0: not started
  bool locked = false;
  bool reset_called = false;
  unsigned locked_min_mhz = 0;
  unsigned locked_max_mhz = 0;
};

namespace {

constexpr unsigned kMaxDevices = 16;
constexpr unsigned kBuses[8] = {0x1B, 0x43, 0x52, 0x61, 0x9D, 0xC3, 0xD1, 0xDF};  // as on a DGX H100/H200
constexpr unsigned kMinClock = 345, kMaxClock = 1980, kClockStep = 15, kMemClock = 3201;
constexpr double kIdleW = 127, kMaxW = 700;
constexpr unsigned kPowerLimitMw = 700000;

enum class FailMode { none, init, no_permission, energy_not_supported };

std::mutex g_mutex;
int g_init_count = 0;
unsigned g_device_count = 1;
double g_load = 0.5;
FailMode g_fail = FailMode::none;
unsigned g_setter_calls = 0;
unsigned g_max_held_mhz = 0;  // 0 = no cap
std::string g_state_file;
nv::nvmlDevice_st g_devices[kMaxDevices];

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

unsigned snap_clock(unsigned mhz) {
  if (mhz < kMinClock) return kMinClock;
  if (mhz > kMaxClock) return kMaxClock;
  return kMinClock + (mhz - kMinClock) / kClockStep * kClockStep;
}

unsigned wanted_clock(const nv::nvmlDevice_st& d) { return d.locked ? snap_clock(d.locked_max_mhz) : kMaxClock; }

bool power_capped(const nv::nvmlDevice_st& d) { return g_max_held_mhz != 0 && wanted_clock(d) > g_max_held_mhz; }

unsigned clock_of(const nv::nvmlDevice_st& d) { return power_capped(d) ? snap_clock(g_max_held_mhz) : wanted_clock(d); }

// FAKE_NVML_STATE_FILE, rewritten whole (see the file-top comment); caller holds g_mutex.
void write_state_file() {
  if (g_state_file.empty()) return;
  std::string text;
  for (unsigned i = 0; i < g_device_count; ++i) {
    const nv::nvmlDevice_st& d = g_devices[i];
    if (d.locked)
      text += "locked " + std::to_string(i) + " " + std::to_string(d.locked_min_mhz) + " " +
              std::to_string(d.locked_max_mhz) + "\n";
    else
      text += (d.reset_called ? "reset " : "default ") + std::to_string(i) + "\n";
  }
  text += "setter_calls " + std::to_string(g_setter_calls) + "\n";
  const std::string temporary = g_state_file + ".tmp";
  std::FILE* out = std::fopen(temporary.c_str(), "w");
  if (out == nullptr) return;
  const bool written = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  if (std::fclose(out) == 0 && written) std::rename(temporary.c_str(), g_state_file.c_str());
}

// Every setter ends here: counts the call and publishes the state.
nvmlReturn_t setter_done(nvmlReturn_t status) {
  write_state_file();
  return status;
}

double power_w(const nv::nvmlDevice_st& d) {
  const double ratio = clock_of(d) / static_cast<double>(kMaxClock);
  return kIdleW + g_load * (kMaxW - kIdleW) * ratio * ratio;
}

// Integrates the counter up to now with the current power; call before changing power.
void advance(nv::nvmlDevice_st& d) {
  const double t = now_s();
  if (d.updated_s < 0) d.energy_mj = 1.0e9 + 1.0e8 * d.index;  // a counter "since driver load"
  else d.energy_mj += power_w(d) * (t - d.updated_s) * 1000.0;  // W × s = J; × 1000 = mJ
  d.updated_s = t;
}

void advance_all() {
  for (auto& d : g_devices) advance(d);
}

void read_environment() {
  const char* devices = std::getenv("FAKE_NVML_DEVICES");
  const int n = devices ? std::atoi(devices) : 1;
  g_device_count = n < 1 ? 1 : (n > static_cast<int>(kMaxDevices) ? kMaxDevices : static_cast<unsigned>(n));
  const char* load = std::getenv("FAKE_NVML_LOAD");
  const double l = load ? std::atof(load) : 0.5;
  g_load = l < 0 ? 0 : (l > 1 ? 1 : l);
  const char* held = std::getenv("FAKE_NVML_MAX_HELD_MHZ");
  g_max_held_mhz = held ? static_cast<unsigned>(std::strtoul(held, nullptr, 10)) : 0;
  const char* state = std::getenv("FAKE_NVML_STATE_FILE");
  g_state_file = state ? state : "";
  const std::string fail = std::getenv("FAKE_NVML_FAIL") ? std::getenv("FAKE_NVML_FAIL") : "";
  g_fail = fail == "init"                   ? FailMode::init
           : fail == "no_permission"        ? FailMode::no_permission
           : fail == "energy_not_supported" ? FailMode::energy_not_supported
                                            : FailMode::none;
}

// The device behind a handle, or null when the handle is not one of ours.
nv::nvmlDevice_st* device_of(nvmlDevice_t handle) {
  for (unsigned i = 0; i < g_device_count; ++i)
    if (handle == &g_devices[i]) return handle;
  return nullptr;
}

// Shared prologue: NVML initialized and a valid handle.
nvmlReturn_t check(nvmlDevice_t handle) {
  if (g_init_count == 0) return nv::NVML_ERROR_UNINITIALIZED;
  return device_of(handle) ? nv::NVML_SUCCESS : nv::NVML_ERROR_INVALID_ARGUMENT;
}

// "domain:bus:device.function" or "bus:device.function", hex, any case → bus; -1 when malformed.
int parse_bus(const char* text) {
  unsigned domain = 0, bus = 0, dev = 0, fn = 0;
  int used = -1;
  if (std::sscanf(text, "%x:%x:%x.%x%n", &domain, &bus, &dev, &fn, &used) == 4 && text[used] == '\0')
    return (domain == 0 && dev == 0 && fn == 0) ? static_cast<int>(bus) : -2;
  used = -1;
  if (std::sscanf(text, "%x:%x.%x%n", &bus, &dev, &fn, &used) == 3 && text[used] == '\0')
    return (dev == 0 && fn == 0) ? static_cast<int>(bus) : -2;
  return -1;
}

}  // namespace

extern "C" {

nvmlReturn_t nvmlInit_v2() {
  std::lock_guard lock(g_mutex);
  for (unsigned i = 0; i < kMaxDevices; ++i) {
    g_devices[i].index = i;
    g_devices[i].bus = i < 8 ? kBuses[i] : 0xE0 + i;
  }
  advance_all();  // up to now at the old load; the first time, starts the counters
  read_environment();
  if (g_fail == FailMode::init) return nv::NVML_ERROR_DRIVER_NOT_LOADED;
  ++g_init_count;
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown() {
  std::lock_guard lock(g_mutex);
  if (g_init_count == 0) return nv::NVML_ERROR_UNINITIALIZED;
  --g_init_count;
  return nv::NVML_SUCCESS;
}

const char* nvmlErrorString(nvmlReturn_t status) {
  switch (status) {
    case nv::NVML_SUCCESS: return "Success";
    case nv::NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case nv::NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case nv::NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case nv::NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case nv::NVML_ERROR_NOT_FOUND: return "Not Found";
    case nv::NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case nv::NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case nv::NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case nv::NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case nv::NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
  }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* count) {
  std::lock_guard lock(g_mutex);
  if (g_init_count == 0) return nv::NVML_ERROR_UNINITIALIZED;
  if (count == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  *count = g_device_count;
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t* device) {
  std::lock_guard lock(g_mutex);
  if (g_init_count == 0) return nv::NVML_ERROR_UNINITIALIZED;
  if (device == nullptr || index >= g_device_count) return nv::NVML_ERROR_INVALID_ARGUMENT;
  *device = &g_devices[index];
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, nvmlDevice_t* device) {
  std::lock_guard lock(g_mutex);
  if (g_init_count == 0) return nv::NVML_ERROR_UNINITIALIZED;
  if (bus_id == nullptr || device == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  const int bus = parse_bus(bus_id);
  if (bus == -1) return nv::NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned i = 0; i < g_device_count; ++i) {
    if (static_cast<int>(g_devices[i].bus) == bus) {
      *device = &g_devices[i];
      return nv::NVML_SUCCESS;
    }
  }
  return nv::NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned length) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (name == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  const std::string text = "Fake NVIDIA H200 #" + std::to_string(device->index);
  if (length < text.size() + 1) return nv::NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(name, text.c_str(), text.size() + 1);
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* mj) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (mj == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  if (g_fail == FailMode::energy_not_supported) return nv::NVML_ERROR_NOT_SUPPORTED;
  advance(*device);
  *mj = static_cast<unsigned long long>(std::floor(device->energy_mj));
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count, nvmlFieldValue_t* values) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (count <= 0 || values == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  advance(*device);
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  for (int i = 0; i < count; ++i) {
    nvmlFieldValue_t& f = values[i];
    f.timestamp = static_cast<long long>(wall.tv_sec) * 1000000 + wall.tv_nsec / 1000;
    f.latencyUsec = 0;
    f.nvmlReturn = nv::NVML_SUCCESS;
    if (f.fieldId == nv::NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION && g_fail != FailMode::energy_not_supported) {
      f.valueType = nv::NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
      f.value.ullVal = static_cast<unsigned long long>(std::floor(device->energy_mj));
    } else if (f.fieldId == nv::NVML_FI_DEV_POWER_INSTANT || f.fieldId == nv::NVML_FI_DEV_POWER_AVERAGE) {
      f.valueType = nv::NVML_VALUE_TYPE_UNSIGNED_INT;
      f.value.uiVal = static_cast<unsigned>(std::lround(power_w(*device) * 1000.0));
    } else {
      f.nvmlReturn = nv::NVML_ERROR_NOT_SUPPORTED;
    }
  }
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned* mhz) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (mhz == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  if (type == nv::NVML_CLOCK_GRAPHICS || type == nv::NVML_CLOCK_SM) *mhz = clock_of(*device);
  else if (type == nv::NVML_CLOCK_MEM) *mhz = kMemClock;
  else return nv::NVML_ERROR_INVALID_ARGUMENT;
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned* mhz) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (mhz == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  if (type == nv::NVML_CLOCK_GRAPHICS || type == nv::NVML_CLOCK_SM) *mhz = kMaxClock;
  else if (type == nv::NVML_CLOCK_MEM) *mhz = kMemClock;
  else return nv::NVML_ERROR_INVALID_ARGUMENT;
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t device, unsigned* count, unsigned* mhz) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (count == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  const unsigned capacity = *count;
  *count = 1;
  if (capacity < 1 || mhz == nullptr) return nv::NVML_ERROR_INSUFFICIENT_SIZE;
  mhz[0] = kMemClock;
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t device, unsigned mem_mhz, unsigned* count,
                                                  unsigned* mhz) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (count == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  if (mem_mhz != kMemClock) return nv::NVML_ERROR_NOT_FOUND;
  constexpr unsigned n = (kMaxClock - kMinClock) / kClockStep + 1;  // 110
  const unsigned capacity = *count;
  *count = n;
  if (capacity < n || mhz == nullptr) return nv::NVML_ERROR_INSUFFICIENT_SIZE;
  for (unsigned i = 0; i < n; ++i) mhz[i] = kMaxClock - i * kClockStep;  // highest first, as NVML
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceSetGpuLockedClocks(nvmlDevice_t device, unsigned min_mhz, unsigned max_mhz) {
  std::lock_guard lock(g_mutex);
  ++g_setter_calls;
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return setter_done(s);
  if (g_fail == FailMode::no_permission) return setter_done(nv::NVML_ERROR_NO_PERMISSION);
  if (min_mhz > max_mhz) return setter_done(nv::NVML_ERROR_INVALID_ARGUMENT);
  advance(*device);
  device->locked = true;
  device->locked_min_mhz = min_mhz;
  device->locked_max_mhz = max_mhz;
  return setter_done(nv::NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceResetGpuLockedClocks(nvmlDevice_t device) {
  std::lock_guard lock(g_mutex);
  ++g_setter_calls;
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return setter_done(s);
  if (g_fail == FailMode::no_permission) return setter_done(nv::NVML_ERROR_NO_PERMISSION);
  advance(*device);
  device->locked = false;
  device->reset_called = true;
  return setter_done(nv::NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned* mw) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (mw == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  *mw = kPowerLimitMw;
  return nv::NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long* reasons) {
  std::lock_guard lock(g_mutex);
  if (const nvmlReturn_t s = check(device); s != nv::NVML_SUCCESS) return s;
  if (reasons == nullptr) return nv::NVML_ERROR_INVALID_ARGUMENT;
  *reasons = 0;
  if (power_capped(*device)) *reasons |= nv::NVML_CLOCKS_EVENT_REASON_SW_POWER_CAP;
  if (g_load == 0) *reasons |= nv::NVML_CLOCKS_EVENT_REASON_GPU_IDLE;
  return nv::NVML_SUCCESS;
}

// The name NVML had before 12.x; joule falls back to it.
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long* reasons) {
  return nvmlDeviceGetCurrentClocksEventReasons(device, reasons);
}

// ---- test-only exports --------------------------------------------------------------------------
unsigned fakeNvmlSetterCalls() {
  std::lock_guard lock(g_mutex);
  return g_setter_calls;
}

// Winds every counter back by `mj` (a driver reload or GPU reset, as joule sees it).
void fakeNvmlRewindEnergy(unsigned long long mj) {
  std::lock_guard lock(g_mutex);
  advance_all();
  for (auto& d : g_devices) d.energy_mj -= static_cast<double>(mj);
}

void fakeNvmlReset() {
  std::lock_guard lock(g_mutex);
  advance_all();
  g_setter_calls = 0;
  for (auto& d : g_devices) d.locked = d.reset_called = false;
}

}  // extern "C"

// The exports must have exactly the signatures joule resolves them as.
#define FAKE_NVML_SAME_TYPE(fn)                                                                    \
  static_assert(std::is_same_v<decltype(&fn), decltype(nv::NvmlLibrary::fn)>, #fn " signature")
FAKE_NVML_SAME_TYPE(nvmlInit_v2);
FAKE_NVML_SAME_TYPE(nvmlShutdown);
FAKE_NVML_SAME_TYPE(nvmlErrorString);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetCount_v2);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetHandleByIndex_v2);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetHandleByPciBusId_v2);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetName);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetTotalEnergyConsumption);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetFieldValues);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetClockInfo);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetMaxClockInfo);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetSupportedMemoryClocks);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetSupportedGraphicsClocks);
FAKE_NVML_SAME_TYPE(nvmlDeviceSetGpuLockedClocks);
FAKE_NVML_SAME_TYPE(nvmlDeviceResetGpuLockedClocks);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetPowerManagementLimit);
FAKE_NVML_SAME_TYPE(nvmlDeviceGetCurrentClocksEventReasons);
