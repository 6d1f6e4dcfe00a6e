// ClockActuator over NVML (dry run, root) or joule-clockd, the live-actuator registry that
// reset_clocks_emergency walks, and the --reset-clocks command. The registry is a fixed array of
// atomic pointers (signal-handler state, the one global this file keeps): registering and walking
// it never allocates, so the abort path may run it from anywhere.
#include "energy/clock_actuator.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/error.h"
#include "core/proto/config.pb.h"
#include "energy/clock_snap.h"
#include "energy/clockd_client.h"
#include "energy/clockd_protocol.h"
#include "energy/nvml_meter.h"

namespace joule::energy {
namespace {

constexpr size_t kRegistrySlots = 64;
std::atomic<ClockActuator*> g_live[kRegistrySlots];
std::atomic<int> g_walkers{0};  // emergency walks in progress (another thread may be resetting)

void register_live(ClockActuator* actuator) {
  for (auto& slot : g_live) {
    ClockActuator* expected = nullptr;
    if (slot.compare_exchange_strong(expected, actuator)) return;
  }
  std::fprintf(stderr, "joule: warning: more than %zu clock actuators: the emergency reset misses one\n",
               kRegistrySlots);
}

// Clears the actuator's slot, then waits for walks that may have read it before (a walk counts
// itself before reading any slot), so no walk touches an actuator after its destructor went on.
void unregister_live(ClockActuator* actuator) {
  for (auto& slot : g_live) {
    ClockActuator* expected = actuator;
    if (slot.compare_exchange_strong(expected, nullptr)) break;
  }
  while (g_walkers.load() > 0) std::this_thread::yield();
}

bool geteuid_is_root() { return ::geteuid() == 0; }

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// Restricts the card's clocks to the configured bounds; input errors name the field.
std::vector<unsigned> clocks_within_bounds(const std::vector<unsigned>& card, const ClockActuatorOptions& options,
                                           const std::string& where) {
  JOULE_ASSERT(!card.empty(), where, " lists no supported SM clocks");
  const unsigned low = card.front(), high = card.back();
  JOULE_CHECK(options.min_mhz == 0 || (options.min_mhz >= low && options.min_mhz <= high),
              "energy.clock.min_mhz = ", options.min_mhz, ": expected 0 or a clock within the supported SM clocks of ",
              where, " (", low, " .. ", high, " MHz)");
  JOULE_CHECK(options.max_mhz == 0 || (options.max_mhz >= low && options.max_mhz <= high),
              "energy.clock.max_mhz = ", options.max_mhz, ": expected 0 or a clock within the supported SM clocks of ",
              where, " (", low, " .. ", high, " MHz)");
  const unsigned min = options.min_mhz ? options.min_mhz : low, max = options.max_mhz ? options.max_mhz : high;
  JOULE_CHECK(min <= max, "energy.clock.min_mhz = ", min, " is above energy.clock.max_mhz = ", max);
  std::vector<unsigned> within;
  for (unsigned mhz : card)
    if (mhz >= min && mhz <= max) within.push_back(mhz);
  JOULE_CHECK(!within.empty(), "energy.clock.min_mhz .. max_mhz = ", min, " .. ", max,
              " MHz: holds none of the supported SM clocks of ", where);
  return within;
}

std::vector<std::string> read_reasons(const NvmlDevice& device) {
  unsigned long long mask = 0;
  return device.clock_event_reasons(&mask) ? clock_event_reason_names(mask) : std::vector<std::string>{};
}

}  // namespace

ClockActuatorOptions clock_actuator_options(const pb::ClockKnobConfig& config) {
  ClockActuatorOptions options;
  options.gpu = config.gpu();
  options.apply = config.apply() == pb::ClockKnobConfig::APPLY ? ClockApply::apply : ClockApply::dry_run;
  options.min_mhz = config.min_mhz();
  options.max_mhz = config.max_mhz();
  options.clockd_socket = config.clockd_socket();
  return options;
}

ClockActuator::ClockActuator() = default;

ClockActuator::~ClockActuator() {
  unregister_live(this);  // first: no emergency walk can reach this object past here
  reset();
}

const char* ClockActuator::mode() const {
  switch (mode_) {
    case Mode::unavailable: return "unavailable";
    case Mode::dry_run: return "dry_run";
    case Mode::nvml: return "nvml";
    case Mode::clockd: return "clockd";
  }
  return "?";
}

void ClockActuator::disable(const std::string& why) {
  reset();
  mode_ = Mode::unavailable;
  reason_ = why;
  supported_.clear();
  clockd_.reset();
  device_.reset();
}

unsigned ClockActuator::snap(unsigned mhz) const { return nearest_supported_clock(supported_, mhz); }

unsigned ClockActuator::current_mhz() {
  try {
    if (device_ != nullptr) return device_->sm_clock_mhz();
    if (clockd_ != nullptr) {
      ClockdReply reply;
      std::string why;
      if (!clockd_->transact({ClockdVerb::query, canonical_gpu(gpu_), 0}, &reply, &why)) {
        holding_ = false;  // the connection is closed: the daemon has reset whatever we held
        disable(why);
      } else if (reply.ok) {
        return reply.clocks_mhz.front();
      }
    }
  } catch (const Error&) {  // a card that cannot be read is "unknown", not a failed run
  }
  return 0;
}

ClockChange ClockActuator::lock_sm_clock(unsigned mhz) {
  ClockChange change;
  change.requested_mhz = mhz;
  if (!available()) {
    change.message = "clock knob unavailable (" + reason_ + "): SM clock left as it is";
    return change;
  }
  change.snapped_mhz = snap(mhz);
  const std::string target = std::to_string(change.snapped_mhz) + " MHz (requested " + std::to_string(mhz) + ")";
  if (mode_ == Mode::dry_run) {
    locked_mhz_ = change.snapped_mhz;
    change.applied_mhz = current_mhz();
    change.throttle_reasons = read_reasons(*device_);
    change.message = "dry run: would lock the SM clock of " + where_ + " at " + target + "; it runs at " +
                     std::to_string(change.applied_mhz) + " MHz";
    return change;
  }
  if (mode_ == Mode::nvml) {
    std::string detail;
    const ClockStatus status = device_->set_locked_clocks(change.snapped_mhz, change.snapped_mhz, &detail);
    if (status != ClockStatus::ok) {
      change.message = "locking the SM clock of " + where_ + " at " + target + " failed: " + detail;
      if (status == ClockStatus::no_permission || status == ClockStatus::not_supported) {
        disable(where_ + " refused to lock clocks: " + detail);
        change.message += "; clock knob disabled";
      }
      return change;
    }
    holding_ = true;
    change.applied = true;
    change.applied_mhz = current_mhz();
    change.throttle_reasons = read_reasons(*device_);
  } else {
    ClockdReply reply;
    std::string why;
    if (!clockd_->transact({ClockdVerb::lock, canonical_gpu(gpu_), change.snapped_mhz}, &reply, &why)) {
      holding_ = false;  // the connection is gone, and with it (daemon-side) any lock we held
      disable(why);
      change.message = "locking the SM clock of " + where_ + " failed: " + why + "; clock knob disabled";
      return change;
    }
    if (!reply.ok) {
      change.message = "joule-clockd refused to lock " + where_ + " at " + target + ": " + reply.error;
      return change;
    }
    holding_ = true;
    change.applied = true;
    change.applied_mhz = reply.clocks_mhz.front();
    change.throttle_reasons = reply.reasons;
  }
  locked_mhz_ = change.snapped_mhz;
  change.message = "locked the SM clock of " + where_ + " at " + target + "; it reads back " +
                   std::to_string(change.applied_mhz) + " MHz";
  if (!change.throttle_reasons.empty())
    change.message += " (clock event reasons: " + join(change.throttle_reasons) + ")";
  return change;
}

void ClockActuator::reset() noexcept {
  locked_mhz_ = 0;
  if (!holding_.exchange(false)) return;
  try {
    if (device_ != nullptr) {
      std::string detail;
      if (device_->reset_locked_clocks(&detail) != ClockStatus::ok)
        std::fprintf(stderr, "joule: warning: resetting the locked clocks of %s failed: %s\n", where_.c_str(),
                     detail.c_str());
    } else if (clockd_ != nullptr) {
      ClockdReply reply;
      std::string why;
      if (!clockd_->transact({ClockdVerb::reset, canonical_gpu(gpu_), 0}, &reply, &why))
        std::fprintf(stderr, "joule: warning: %s (the daemon resets the GPU on disconnect)\n", why.c_str());
      else if (!reply.ok)
        std::fprintf(stderr, "joule: warning: joule-clockd refused to reset %s: %s\n", where_.c_str(),
                     reply.error.c_str());
    }
  } catch (...) {  // destructors only warn
    std::fprintf(stderr, "joule: warning: resetting the locked clocks of %s failed\n", where_.c_str());
  }
}

void ClockActuator::emergency_reset() noexcept {
  if (!holding_.exchange(false)) return;
  if (clockd_ != nullptr)
    clockd_->close_now();
  else if (device_ != nullptr)
    device_->reset_locked_clocks();  // no detail: nothing allocated
}

void ClockActuator::signal_reset() noexcept {
  if (clockd_ != nullptr && holding_.exchange(false)) clockd_->close_now();
}

std::unique_ptr<ClockActuator> make_clock_actuator(const ClockActuatorOptions& options,
                                                   std::vector<std::string>& warnings) {
  std::unique_ptr<ClockActuator> actuator(new ClockActuator());
  actuator->gpu_ = options.gpu;
  if (options.gpu.empty()) {
    actuator->reason_ = "no GPU named (energy.clock.gpu is empty)";
    return actuator;
  }
  const std::string gpu = canonical_gpu(options.gpu);
  JOULE_CHECK(!gpu.empty(), "energy.clock.gpu = \"", options.gpu,
              "\": expected an NVML index (\"0\") or a PCI bus id (\"0000:1b:00.0\")");
  JOULE_CHECK(options.min_mhz == 0 || options.max_mhz == 0 || options.min_mhz <= options.max_mhz,
              "energy.clock.min_mhz = ", options.min_mhz, " is above energy.clock.max_mhz = ", options.max_mhz);
  const auto give_up = [&](const std::string& why) {
    actuator->disable(why);
    warnings.push_back("clock knob disabled: " + why + "; training goes on at the card's own clocks");
    return std::move(actuator);
  };
  const bool root = options.is_root ? options.is_root() : geteuid_is_root();
  using Mode = ClockActuator::Mode;
  const bool via_clockd = options.apply == ClockApply::apply && !options.clockd_socket.empty();
  if (options.apply == ClockApply::apply && !via_clockd && !root)
    return give_up("energy.clock.apply = APPLY needs root or joule-clockd (set energy.clock.clockd_socket)");

  std::vector<unsigned> card;
  if (via_clockd) {
    std::string why;
    actuator->clockd_ = ClockdClient::connect(options.clockd_socket, &why);
    if (actuator->clockd_ == nullptr) return give_up(why);
    actuator->where_ = "gpu " + options.gpu + " via joule-clockd at " + options.clockd_socket;
    ClockdReply reply;
    if (!actuator->clockd_->transact({ClockdVerb::clocks, gpu, 0}, &reply, &why)) return give_up(why);
    if (!reply.ok)
      return give_up("joule-clockd at " + options.clockd_socket + " refused gpu " + options.gpu + ": " + reply.error);
    card = reply.clocks_mhz;
    std::sort(card.begin(), card.end());
    actuator->mode_ = Mode::clockd;
  } else {
    std::string why;
    actuator->device_ = open_nvml_device(options.gpu, &why);
    if (actuator->device_ == nullptr) return give_up(why);
    actuator->where_ = actuator->device_->where();
    try {
      card = actuator->device_->supported_sm_clocks();
    } catch (const Error& e) {
      return give_up(actuator->where_ + " cannot list its SM clocks: " + e.message());
    }
    actuator->mode_ = options.apply == ClockApply::apply ? Mode::nvml : Mode::dry_run;
  }
  if (card.empty()) return give_up(actuator->where_ + " lists no supported SM clocks");
  actuator->supported_ = clocks_within_bounds(card, options, actuator->where_);
  if (actuator->mode_ == Mode::nvml) {  // start from the card's defaults; proves the permission too
    std::string detail;
    if (actuator->device_->reset_locked_clocks(&detail) != ClockStatus::ok)
      return give_up(actuator->where_ + " refused to reset its locked clocks: " + detail);
  }
  if (actuator->mode_ != Mode::dry_run) register_live(actuator.get());
  return actuator;
}

namespace {

// Calls `reset` on every live actuator, counted as a walk (see unregister_live).
void walk_live(void (ClockActuator::*reset)() noexcept) noexcept {
  ++g_walkers;
  for (auto& slot : g_live) {
    ClockActuator* actuator = slot.load();
    if (actuator != nullptr) (actuator->*reset)();
  }
  --g_walkers;
}

}  // namespace

void reset_clocks_emergency() noexcept { walk_live(&ClockActuator::emergency_reset); }

void reset_clocks_from_signal() noexcept { walk_live(&ClockActuator::signal_reset); }

int reset_clocks_command(const ClockActuatorOptions& options, std::FILE* out) {
  if (!options.clockd_socket.empty()) {
    const std::string gpu = canonical_gpu(options.gpu);
    JOULE_CHECK(!gpu.empty(), "energy.clock.gpu = \"", options.gpu,
                "\": expected the NVML index or PCI bus id of the GPU joule-clockd should reset");
    std::string why;
    std::unique_ptr<ClockdClient> client = ClockdClient::connect(options.clockd_socket, &why);
    ClockdReply reply;
    if (client != nullptr && client->transact({ClockdVerb::reset, gpu, 0}, &reply, &why) && !reply.ok)
      why = "joule-clockd refused: " + reply.error;
    if (!why.empty()) {
      std::fprintf(out, "gpu %s: reset failed: %s\n", options.gpu.c_str(), why.c_str());
      return 1;
    }
    std::fprintf(out, "gpu %s: locked clocks reset by joule-clockd; SM clock now %u MHz\n", options.gpu.c_str(),
                 reply.clocks_mhz.front());
    return 0;
  }
  std::vector<std::string> gpus;
  if (!options.gpu.empty()) {
    JOULE_CHECK(!canonical_gpu(options.gpu).empty(), "energy.clock.gpu = \"", options.gpu,
                "\": expected an NVML index (\"0\") or a PCI bus id (\"0000:1b:00.0\")");
    gpus.push_back(options.gpu);
  } else {
    std::string why;
    std::unique_ptr<NvmlLibrary> lib = NvmlLibrary::open(&why);
    unsigned count = 0;
    if (lib == nullptr || lib->nvmlDeviceGetCount_v2(&count) != NVML_SUCCESS || count == 0) {
      std::fprintf(out, "reset failed: %s\n", lib == nullptr ? why.c_str() : "NVML lists no GPU");
      return 1;
    }
    for (unsigned i = 0; i < count; ++i) gpus.push_back(std::to_string(i));
  }
  int status = 0;
  for (const std::string& gpu : gpus) {
    std::string why;
    std::unique_ptr<NvmlDevice> device = open_nvml_device(gpu, &why);
    if (device != nullptr && device->reset_locked_clocks(&why) == ClockStatus::ok) {
      unsigned mhz = 0;
      try {
        mhz = device->sm_clock_mhz();
      } catch (const Error&) {}
      std::fprintf(out, "%s: locked clocks reset; SM clock now %u MHz\n", device->where().c_str(), mhz);
      continue;
    }
    std::fprintf(out, "gpu %s: reset failed: %s%s\n", gpu.c_str(), why.c_str(),
                 device != nullptr ? " (needs root, or energy.clock.clockd_socket)" : "");
    status = 1;
  }
  return status;
}

}  // namespace joule::energy
