// A rank's meter: NVML for its GPU (the fake library here) plus its CPU; a missing NVML library
// falls back to the CPU meter with a warning naming the path, never an error.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "energy/rank_meter.h"

namespace joule::energy {
namespace {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(RankMeter, CpuRankUsesTheCpuMeterOnly) {
  const RankMeter r = make_rank_meter({"", 12, 0});
  ASSERT_NE(r.meter, nullptr);
  ASSERT_EQ(r.meter->sources().size(), 1u);
  EXPECT_TRUE(r.meter->sources()[0] == "rapl" || r.meter->sources()[0] == "estimate");
}

TEST(RankMeter, MissingNvmlLibraryFallsBackWithAWarning) {
  ScopedEnv env("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1");
  const RankMeter r = make_rank_meter({"0", 12, 0});
  ASSERT_NE(r.meter, nullptr) << "never a crash: training goes on with the CPU meter";
  ASSERT_EQ(r.meter->sources().size(), 1u);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings.back().find("/nonexistent/libnvidia-ml.so.1"), std::string::npos) << r.warnings.back();
  EXPECT_NE(r.warnings.back().find("GPU energy not measured"), std::string::npos) << r.warnings.back();
  EXPECT_TRUE(r.meter->sources()[0] == "rapl" || r.meter->sources()[0] == "estimate") << r.meter->sources()[0];
  EXPECT_EQ(r.meter->read().gpu_j, 0.0) << "the CPU meter alone measures no GPU";
}

TEST(RankMeter, EnergyCounterNotSupportedFallsBackWithAWarning) {
  ScopedEnv lib("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML_LIBRARY);
  ScopedEnv fail("FAKE_NVML_FAIL", "energy_not_supported");
  const RankMeter r = make_rank_meter({"0", 12, 0});
  ASSERT_NE(r.meter, nullptr);
  EXPECT_EQ(r.meter->sources().size(), 1u);
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings.back().find("GPU energy not measured"), std::string::npos) << r.warnings.back();
}

TEST(RankMeter, GpuRankSumsNvmlAndCpu) {
  ScopedEnv lib("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML_LIBRARY);
  const RankMeter r = make_rank_meter({"0", 12, 0});
  ASSERT_NE(r.meter, nullptr);
  const std::vector<std::string> sources = r.meter->sources();
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0], "nvml");
  const MeterReading a = r.meter->read();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const MeterReading b = r.meter->read();
  EXPECT_GT(b.gpu_j - a.gpu_j, 127 * 0.1) << "the fake GPU draws at least its idle 127 W";
  EXPECT_EQ(r.meter->measured(), sources[1] == "rapl") << "measured only when the CPU side is too";
}

}  // namespace
}  // namespace joule::energy
