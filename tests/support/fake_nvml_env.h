// The fake NVML library (tests/fake_nvml/) for tests of code that loads NVML: environment
// variables set for one test and restored afterwards, and a fixture that points joule at the fake,
// clears its failure modes and reaches its test-only exports (setter count, reset).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

namespace joule::testing {

class ScopedEnv {
 public:
  void set(const std::string& name, const std::string& value);
  void unset(const std::string& name);
  ~ScopedEnv();  // restores every variable touched

 private:
  void save(const std::string& name);
  std::map<std::string, std::optional<std::string>> saved_;
};

// SetUp: JOULE_NVML_LIBRARY = the fake; FAKE_NVML_{DEVICES,LOAD,FAIL,MAX_HELD_MHZ,STATE_FILE}
// unset; the fake held loaded and reset (no locks, setter count 0). TearDown resets it again.
class FakeNvmlTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  unsigned setter_calls() const { return setter_calls_(); }

  ScopedEnv env_;

 private:
  void* fake_ = nullptr;
  unsigned (*setter_calls_)() = nullptr;
  void (*reset_)() = nullptr;
};

}  // namespace joule::testing
