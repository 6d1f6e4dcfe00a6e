// NVML meter and device through the fake NVML library (tests/fake_nvml/fake_nvml.cpp), loaded by
// the real code path (dlopen via JOULE_NVML_LIBRARY, dlsym, return codes). Energies are checked
// against the fake's deterministic power model over windows bracketed by this test's own
// CLOCK_MONOTONIC reads (the fake integrates on the same clock): that asserts deltas and units,
// never speed. Each failure mode must come back as a reason, never as a crash or an exception.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "energy/nvml_meter.h"

namespace joule::energy {
namespace {

constexpr double kIdleW = 127, kMaxW = 700, kTopClock = 1980;  // the fake's model

double model_power_w(double load, double clock_mhz) {
  const double ratio = clock_mhz / kTopClock;
  return kIdleW + load * (kMaxW - kIdleW) * ratio * ratio;
}

double monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Energy a meter reports over a ~200 ms window, with the window's bounds: the counter's own
// interval lies between `inner_s` (end of first read → start of second) and `outer_s`.
struct Window {
  double energy_j, inner_s, outer_s;
};
Window measure_window(Meter& meter) {
  const double t0 = monotonic_now();
  const MeterReading first = meter.read();
  const double t1 = monotonic_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double t2 = monotonic_now();
  const MeterReading second = meter.read();
  const double t3 = monotonic_now();
  return {second.gpu_j - first.gpu_j, t2 - t1, t3 - t0};
}

// The window's energy is power × the counter's interval; that interval is only known to lie
// within [inner, outer], and the counter is whole mJ (±1 mJ per read).
void expect_energy_of(const Window& w, double power_w) {
  EXPECT_GE(w.energy_j, power_w * w.inner_s - 0.002) << "power " << power_w << " W";
  EXPECT_LE(w.energy_j, power_w * w.outer_s + 0.002) << "power " << power_w << " W";
}

// Sets or unsets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const std::string& name, const std::string& value) {
    save(name);
    setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    save(name);
    unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
    }
  }

 private:
  void save(const std::string& name) {
    if (saved_.count(name)) return;
    const char* value = std::getenv(name.c_str());
    saved_[name] = value ? std::optional<std::string>(value) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

// Points joule at the fake, clears its failure modes, and holds it loaded so its test-only exports
// (setter count, reset, rewind) reach the same state the meter sees.
class NvmlFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.set("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML_LIBRARY);
    env_.unset("FAKE_NVML_DEVICES");
    env_.unset("FAKE_NVML_LOAD");
    env_.unset("FAKE_NVML_FAIL");
    fake_ = dlopen(JOULE_FAKE_NVML_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(fake_, nullptr) << dlerror();
    setter_calls = reinterpret_cast<unsigned (*)()>(dlsym(fake_, "fakeNvmlSetterCalls"));
    rewind_energy = reinterpret_cast<void (*)(unsigned long long)>(dlsym(fake_, "fakeNvmlRewindEnergy"));
    reset_ = reinterpret_cast<void (*)()>(dlsym(fake_, "fakeNvmlReset"));
    ASSERT_TRUE(setter_calls && rewind_energy && reset_);
    reset_();
  }
  void TearDown() override {
    if (reset_) reset_();
    if (fake_) dlclose(fake_);
  }

  ScopedEnv env_;
  unsigned (*setter_calls)() = nullptr;
  void (*rewind_energy)(unsigned long long mj) = nullptr;

 private:
  void* fake_ = nullptr;
  void (*reset_)() = nullptr;
};

using NvmlLibraryTest = NvmlFakeTest;
using NvmlDeviceTest = NvmlFakeTest;
using NvmlMeterTest = NvmlFakeTest;

}  // namespace

// ---- the library ----------------------------------------------------------------------------------
TEST_F(NvmlLibraryTest, OpensTheFakeAndNamesErrors) {
  std::string why_not;
  std::unique_ptr<NvmlLibrary> lib = NvmlLibrary::open(&why_not);
  ASSERT_NE(lib, nullptr) << why_not;
  EXPECT_EQ(lib->path(), JOULE_FAKE_NVML_LIBRARY);
  {
    ScopedEnv unset;
    unset.unset("JOULE_NVML_LIBRARY");
    EXPECT_EQ(NvmlLibrary::default_path(), "libnvidia-ml.so.1");
  }
  EXPECT_NE(lib->error_string(NVML_ERROR_NO_PERMISSION).find("Insufficient Permissions"), std::string::npos);
  try {
    JOULE_NVML_CHECK(*lib, lib->nvmlDeviceGetCount_v2(nullptr));
    FAIL() << "JOULE_NVML_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
    EXPECT_NE(e.message().find("nvmlDeviceGetCount_v2"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("Invalid Argument"), std::string::npos) << e.message();
    EXPECT_NE(e.where().find("test_nvml_meter.cpp"), std::string::npos) << e.where();
  }
}

TEST_F(NvmlLibraryTest, MissingLibraryIsAReasonNamingThePath) {
  const std::string path = "/nonexistent/joule/libnvidia-ml.so.1";
  env_.set("JOULE_NVML_LIBRARY", path);
  std::string why_not;
  EXPECT_EQ(NvmlLibrary::open(&why_not), nullptr);
  EXPECT_NE(why_not.find(path), std::string::npos) << why_not;
  why_not.clear();
  EXPECT_EQ(make_gpu_meter("0", &why_not), nullptr);
  EXPECT_NE(why_not.find(path), std::string::npos) << why_not;
  EXPECT_EQ(make_gpu_meter("0", nullptr), nullptr);  // no reason wanted: still no crash
}

TEST_F(NvmlLibraryTest, MissingSymbolIsAReason) {
  env_.set("JOULE_NVML_LIBRARY", "libc.so.6");  // loads, but is no NVML
  std::string why_not;
  EXPECT_EQ(NvmlLibrary::open(&why_not), nullptr);
  EXPECT_NE(why_not.find("lacks nvmlInit_v2"), std::string::npos) << why_not;
}

TEST_F(NvmlLibraryTest, InitFailureIsAReason) {
  env_.set("FAKE_NVML_FAIL", "init");
  std::string why_not;
  EXPECT_EQ(make_gpu_meter("0", &why_not), nullptr);
  EXPECT_NE(why_not.find("nvmlInit_v2"), std::string::npos) << why_not;
  EXPECT_NE(why_not.find("Driver Not Loaded"), std::string::npos) << why_not;
}

// ---- the device ------------------------------------------------------------------------------------
TEST_F(NvmlDeviceTest, QueriesMatchTheH200) {
  std::string why_not;
  std::unique_ptr<NvmlDevice> device = open_nvml_device("", &why_not);
  ASSERT_NE(device, nullptr) << why_not;
  EXPECT_NE(device->name().find("H200"), std::string::npos) << device->name();
  EXPECT_EQ(device->max_sm_clock_mhz(), 1980u);
  EXPECT_EQ(device->sm_clock_mhz(), 1980u);
  EXPECT_DOUBLE_EQ(device->power_limit_w(), 700.0);
  EXPECT_NEAR(device->instant_power_w(), model_power_w(0.5, 1980), 0.001);
  const std::vector<unsigned> clocks = device->supported_sm_clocks();
  ASSERT_EQ(clocks.size(), 110u);
  for (size_t i = 0; i < clocks.size(); ++i) EXPECT_EQ(clocks[i], 345u + 15u * i);
  EXPECT_EQ(clocks.back(), 1980u);
}

TEST_F(NvmlDeviceTest, PciBusIdPicksTheRightDevice) {
  env_.set("FAKE_NVML_DEVICES", "2");
  std::string why_not;
  std::unique_ptr<NvmlDevice> second = open_nvml_device("0000:43:00.0", &why_not);  // as CUDA prints it
  ASSERT_NE(second, nullptr) << why_not;
  EXPECT_EQ(second->name(), "Fake NVIDIA H200 #1");
  std::unique_ptr<NvmlDevice> first = open_nvml_device("00000000:1B:00.0", &why_not);  // as NVML prints it
  ASSERT_NE(first, nullptr) << why_not;
  EXPECT_EQ(first->name(), "Fake NVIDIA H200 #0");
  // A lock through the bus-id handle lands on device 1 only.
  ASSERT_EQ(second->set_locked_clocks(990, 990), ClockStatus::ok);
  EXPECT_EQ(open_nvml_device("1", &why_not)->sm_clock_mhz(), 990u);
  EXPECT_EQ(open_nvml_device("0", &why_not)->sm_clock_mhz(), 1980u);
  EXPECT_NE(make_gpu_meter("0000:43:00.0", &why_not), nullptr) << why_not;

  EXPECT_EQ(make_gpu_meter("0000:99:00.0", &why_not), nullptr);
  EXPECT_NE(why_not.find("0000:99:00.0"), std::string::npos) << why_not;
  EXPECT_NE(why_not.find("Not Found"), std::string::npos) << why_not;
  EXPECT_EQ(make_gpu_meter("2", &why_not), nullptr);
  EXPECT_NE(why_not.find("sees 2 device(s)"), std::string::npos) << why_not;
}

TEST_F(NvmlDeviceTest, NoPermissionIsReportedAndCounted) {
  env_.set("FAKE_NVML_FAIL", "no_permission");
  std::string why_not;
  std::unique_ptr<NvmlDevice> device = open_nvml_device("0", &why_not);
  ASSERT_NE(device, nullptr) << why_not;
  std::string detail;
  EXPECT_EQ(device->set_locked_clocks(990, 990, &detail), ClockStatus::no_permission);
  EXPECT_NE(detail.find("Insufficient Permissions"), std::string::npos) << detail;
  EXPECT_EQ(setter_calls(), 1u);
  EXPECT_EQ(device->reset_locked_clocks(), ClockStatus::no_permission);
  EXPECT_EQ(setter_calls(), 2u);
  EXPECT_EQ(device->sm_clock_mhz(), 1980u);  // nothing changed
  EXPECT_STREQ(to_string(ClockStatus::no_permission), "no_permission");
  EXPECT_NE(make_gpu_meter("0", &why_not), nullptr) << "metering needs no permission: " << why_not;
}

// ---- the meter -------------------------------------------------------------------------------------
TEST_F(NvmlMeterTest, EnergyIsTheCounterDeltaOfThePowerModel) {
  env_.set("FAKE_NVML_LOAD", "0.25");
  std::string why_not;
  const double opened_s = monotonic_now();
  std::unique_ptr<Meter> meter = make_gpu_meter("0", &why_not);
  ASSERT_NE(meter, nullptr) << why_not;
  EXPECT_TRUE(meter->measured());
  EXPECT_EQ(meter->sources(), std::vector<std::string>{"nvml"});
  const MeterReading start = meter->read();
  const double read_s = monotonic_now();
  EXPECT_GE(start.gpu_j, 0.0);
  // counted from the meter's start, not from "driver load": at most the power over this bracket
  EXPECT_LE(start.gpu_j, model_power_w(0.25, 1980) * (read_s - opened_s) + 0.002);
  EXPECT_EQ(start.cpu_j, 0.0);
  EXPECT_EQ(start.dram_j, 0.0);
  const Window w = measure_window(*meter);
  EXPECT_GT(w.energy_j, 0.0);
  expect_energy_of(w, model_power_w(0.25, 1980));
}

TEST_F(NvmlMeterTest, LockingALowerClockLowersEnergyAndResetRestores) {
  std::string why_not;
  std::unique_ptr<NvmlDevice> device = open_nvml_device("0", &why_not);
  ASSERT_NE(device, nullptr) << why_not;
  NvmlMeter meter(std::move(*device));
  const Window unlocked = measure_window(meter);
  expect_energy_of(unlocked, model_power_w(0.5, 1980));

  ASSERT_EQ(meter.device().set_locked_clocks(990, 990), ClockStatus::ok);
  EXPECT_EQ(meter.device().sm_clock_mhz(), 990u);
  EXPECT_NEAR(meter.device().instant_power_w(), model_power_w(0.5, 990), 0.001);
  const Window locked = measure_window(meter);
  expect_energy_of(locked, model_power_w(0.5, 990));
  EXPECT_LT(locked.energy_j / locked.outer_s, unlocked.energy_j / unlocked.outer_s);

  ASSERT_EQ(meter.device().reset_locked_clocks(), ClockStatus::ok);
  EXPECT_EQ(meter.device().sm_clock_mhz(), 1980u);
  EXPECT_NEAR(meter.device().instant_power_w(), model_power_w(0.5, 1980), 0.001);
  expect_energy_of(measure_window(meter), model_power_w(0.5, 1980));
  EXPECT_EQ(setter_calls(), 2u);
}

TEST_F(NvmlMeterTest, EnergyNotSupportedIsAReason) {
  env_.set("FAKE_NVML_FAIL", "energy_not_supported");
  std::string why_not;
  EXPECT_EQ(make_gpu_meter("0", &why_not), nullptr);
  EXPECT_NE(why_not.find("energy counter"), std::string::npos) << why_not;
  EXPECT_NE(why_not.find("Not Supported"), std::string::npos) << why_not;
}

TEST_F(NvmlMeterTest, CounterGoingBackwardsIsAnError) {
  std::string why_not;
  std::unique_ptr<Meter> meter = make_gpu_meter("0", &why_not);
  ASSERT_NE(meter, nullptr) << why_not;
  meter->read();
  rewind_energy(1000000);  // 1 kJ back
  try {
    meter->read();
    FAIL() << "a counter that went backwards was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("went backwards"), std::string::npos) << e.message();
  }
}

}  // namespace joule::energy
