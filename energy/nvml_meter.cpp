// NvmlDevice and NvmlMeter over NvmlLibrary: handles by index or PCI bus id, the energy counter,
// field 186, clock queries and the clock setters (statuses, never exceptions, for the setters).
#include "energy/nvml_meter.h"

#include <algorithm>
#include <charconv>

#include "core/clock.h"

namespace joule::energy {
namespace {

constexpr unsigned kNameLength = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

// A field value as a double, whatever type NVML chose to report it in.
double field_as_double(const nvmlFieldValue_t& field) {
  switch (field.valueType) {
    case NVML_VALUE_TYPE_DOUBLE: return field.value.dVal;
    case NVML_VALUE_TYPE_UNSIGNED_INT: return field.value.uiVal;
    case NVML_VALUE_TYPE_UNSIGNED_LONG: return static_cast<double>(field.value.ulVal);
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: return static_cast<double>(field.value.ullVal);
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG: return static_cast<double>(field.value.sllVal);
    case NVML_VALUE_TYPE_SIGNED_INT: return field.value.siVal;
    case NVML_VALUE_TYPE_UNSIGNED_SHORT: return field.value.usVal;
  }
  JOULE_FAIL("NVML field ", field.fieldId, " has unknown value type ", field.valueType);
}

// An NVML list query (count in/out, values out), retried once with the size NVML asks for.
template <class Query>
std::vector<unsigned> query_list(const NvmlLibrary& lib, const char* what, Query query) {
  unsigned count = 256;
  std::vector<unsigned> values(count);
  nvmlReturn_t status = query(&count, values.data());
  if (status == NVML_ERROR_INSUFFICIENT_SIZE) {
    values.resize(count);
    status = query(&count, values.data());
  }
  if (status != NVML_SUCCESS) JOULE_FAIL(what, " failed: ", lib.error_string(status));
  values.resize(std::min<size_t>(count, values.size()));
  return values;
}

}  // namespace

const char* to_string(ClockStatus status) {
  switch (status) {
    case ClockStatus::ok: return "ok";
    case ClockStatus::no_permission: return "no_permission";
    case ClockStatus::not_supported: return "not_supported";
    case ClockStatus::error: return "error";
  }
  return "?";
}

// ---- NvmlDevice ---------------------------------------------------------------------------------------
NvmlDevice::NvmlDevice(std::shared_ptr<const NvmlLibrary> lib, nvmlDevice_t handle, std::string where)
    : lib_(std::move(lib)), handle_(handle), where_(std::move(where)) {
  char name[kNameLength] = {};
  JOULE_NVML_CHECK(*lib_, lib_->nvmlDeviceGetName(handle_, name, kNameLength));
  name[kNameLength - 1] = '\0';
  name_ = name;
}

NvmlDevice NvmlDevice::by_index(std::shared_ptr<const NvmlLibrary> lib, unsigned index) {
  JOULE_ASSERT(lib != nullptr);
  unsigned count = 0;
  JOULE_NVML_CHECK(*lib, lib->nvmlDeviceGetCount_v2(&count));
  if (index >= count) JOULE_FAIL("NVML device ", index, " does not exist: NVML sees ", count, " device(s)");
  nvmlDevice_t handle = nullptr;
  JOULE_NVML_CHECK(*lib, lib->nvmlDeviceGetHandleByIndex_v2(index, &handle));
  return NvmlDevice(std::move(lib), handle, detail::concat("NVML device ", index));
}

NvmlDevice NvmlDevice::by_pci_bus_id(std::shared_ptr<const NvmlLibrary> lib, const std::string& bus_id) {
  JOULE_ASSERT(lib != nullptr);
  nvmlDevice_t handle = nullptr;
  const nvmlReturn_t status = lib->nvmlDeviceGetHandleByPciBusId_v2(bus_id.c_str(), &handle);
  if (status != NVML_SUCCESS)
    JOULE_FAIL("no NVML device at PCI bus id '", bus_id, "': ", lib->error_string(status));
  return NvmlDevice(std::move(lib), handle, detail::concat("NVML device at PCI ", bus_id));
}

std::uint64_t NvmlDevice::total_energy_mj() const {
  unsigned long long mj = 0;
  JOULE_NVML_CHECK(*lib_, lib_->nvmlDeviceGetTotalEnergyConsumption(handle_, &mj));
  return static_cast<std::uint64_t>(mj);
}

double NvmlDevice::instant_power_w() const {
  nvmlFieldValue_t field{};
  field.fieldId = NVML_FI_DEV_POWER_INSTANT;
  field.scopeId = 0;
  JOULE_NVML_CHECK(*lib_, lib_->nvmlDeviceGetFieldValues(handle_, 1, &field));
  if (field.nvmlReturn != NVML_SUCCESS)
    JOULE_FAIL(where_, ": instant power (NVML field 186) unavailable: ", lib_->error_string(field.nvmlReturn));
  return field_as_double(field) / 1000.0;  // mW -> W
}

unsigned NvmlDevice::sm_clock_mhz() const {
  unsigned mhz = 0;
  JOULE_NVML_CHECK(*lib_, lib_->nvmlDeviceGetClockInfo(handle_, NVML_CLOCK_SM, &mhz));
  return mhz;
}

unsigned NvmlDevice::max_sm_clock_mhz() const {
  unsigned mhz = 0;
  JOULE_NVML_CHECK(*lib_, lib_->nvmlDeviceGetMaxClockInfo(handle_, NVML_CLOCK_SM, &mhz));
  return mhz;
}

double NvmlDevice::power_limit_w() const {
  unsigned mw = 0;
  JOULE_NVML_CHECK(*lib_, lib_->nvmlDeviceGetPowerManagementLimit(handle_, &mw));
  return mw / 1000.0;
}

std::vector<unsigned> NvmlDevice::supported_sm_clocks() const {
  const std::vector<unsigned> memory = query_list(*lib_, "nvmlDeviceGetSupportedMemoryClocks",
      [&](unsigned* count, unsigned* mhz) { return lib_->nvmlDeviceGetSupportedMemoryClocks(handle_, count, mhz); });
  if (memory.empty()) JOULE_FAIL(where_, ": NVML lists no memory clocks");
  const unsigned memory_mhz = *std::max_element(memory.begin(), memory.end());
  std::vector<unsigned> sm = query_list(*lib_, "nvmlDeviceGetSupportedGraphicsClocks", [&](unsigned* count, unsigned* mhz) {
    return lib_->nvmlDeviceGetSupportedGraphicsClocks(handle_, memory_mhz, count, mhz);
  });
  std::sort(sm.begin(), sm.end());  // NVML lists them highest first
  sm.erase(std::unique(sm.begin(), sm.end()), sm.end());
  return sm;
}

bool NvmlDevice::clock_event_reasons(unsigned long long* mask, std::string* detail) const {
  JOULE_ASSERT(mask != nullptr);
  *mask = 0;
  if (lib_->nvmlDeviceGetCurrentClocksEventReasons == nullptr) {
    if (detail != nullptr) *detail = "NVML library " + lib_->path() + " cannot report clock event reasons";
    return false;
  }
  const nvmlReturn_t status = lib_->nvmlDeviceGetCurrentClocksEventReasons(handle_, mask);
  if (status == NVML_SUCCESS) return true;
  if (detail != nullptr) *detail = lib_->error_string(status);
  *mask = 0;
  return false;
}

ClockStatus NvmlDevice::clock_status(nvmlReturn_t status, std::string* detail) const {
  if (status != NVML_SUCCESS && detail != nullptr) *detail = lib_->error_string(status);
  switch (status) {
    case NVML_SUCCESS: return ClockStatus::ok;
    case NVML_ERROR_NO_PERMISSION: return ClockStatus::no_permission;
    case NVML_ERROR_NOT_SUPPORTED: return ClockStatus::not_supported;
    default: return ClockStatus::error;
  }
}

ClockStatus NvmlDevice::set_locked_clocks(unsigned min_mhz, unsigned max_mhz, std::string* detail) {
  JOULE_CHECK(min_mhz <= max_mhz, where_, ": locked clock range [", min_mhz, ", ", max_mhz, "] MHz is empty");
  return clock_status(lib_->nvmlDeviceSetGpuLockedClocks(handle_, min_mhz, max_mhz), detail);
}

ClockStatus NvmlDevice::reset_locked_clocks(std::string* detail) {
  return clock_status(lib_->nvmlDeviceResetGpuLockedClocks(handle_), detail);
}

// ---- NvmlMeter ---------------------------------------------------------------------------------------
NvmlMeter::NvmlMeter(NvmlDevice device) : device_(std::move(device)) {
  start_mj_ = device_.total_energy_mj();
  last_mj_ = start_mj_;
}

MeterReading NvmlMeter::read() {
  MeterReading r;
  const std::uint64_t mj = device_.total_energy_mj();
  r.time_s = monotonic_seconds();
  if (mj < last_mj_)
    JOULE_FAIL(device_.where(), ": NVML energy counter went backwards from ", last_mj_, " to ", mj,
               " mJ (driver reloaded or GPU reset?)");
  last_mj_ = mj;
  r.gpu_j = static_cast<double>(mj - start_mj_) / 1000.0;  // mJ -> J; exact below 2^53 mJ
  return r;
}

// ---- factories ---------------------------------------------------------------------------------------
std::unique_ptr<NvmlDevice> open_nvml_device(const std::string& pci_bus_id_or_index, std::string* why_not) {
  std::string ignored;
  if (why_not == nullptr) why_not = &ignored;
  std::shared_ptr<const NvmlLibrary> lib = NvmlLibrary::open(why_not);
  if (lib == nullptr) return nullptr;
  const std::string& spec = pci_bus_id_or_index;
  const bool is_index = std::all_of(spec.begin(), spec.end(), [](char c) { return c >= '0' && c <= '9'; });
  try {
    if (!is_index) return std::make_unique<NvmlDevice>(NvmlDevice::by_pci_bus_id(std::move(lib), spec));
    unsigned index = 0;
    if (!spec.empty()) {
      const auto [end, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), index);
      if (ec != std::errc() || end != spec.data() + spec.size()) {
        *why_not = detail::concat("NVML device index '", spec, "' is out of range");
        return nullptr;
      }
    }
    return std::make_unique<NvmlDevice>(NvmlDevice::by_index(std::move(lib), index));
  } catch (const Error& e) {
    *why_not = e.message();
    return nullptr;
  }
}

std::unique_ptr<Meter> make_gpu_meter(const std::string& pci_bus_id_or_index, std::string* why_not) {
  std::string ignored;
  if (why_not == nullptr) why_not = &ignored;
  std::unique_ptr<NvmlDevice> device = open_nvml_device(pci_bus_id_or_index, why_not);
  if (device == nullptr) return nullptr;
  const std::string where = device->where();
  try {
    return std::make_unique<NvmlMeter>(std::move(*device));
  } catch (const Error& e) {
    *why_not = detail::concat(where, " has no usable energy counter: ", e.message());
    return nullptr;
  }
}

}  // namespace joule::energy
