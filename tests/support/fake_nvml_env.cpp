#include "tests/support/fake_nvml_env.h"

#include <dlfcn.h>

#include <cstdlib>

namespace joule::testing {

void ScopedEnv::save(const std::string& name) {
  if (saved_.count(name)) return;
  const char* value = std::getenv(name.c_str());
  saved_[name] = value ? std::optional<std::string>(value) : std::nullopt;
}

void ScopedEnv::set(const std::string& name, const std::string& value) {
  save(name);
  setenv(name.c_str(), value.c_str(), 1);
}

void ScopedEnv::unset(const std::string& name) {
  save(name);
  unsetenv(name.c_str());
}

ScopedEnv::~ScopedEnv() {
  for (const auto& [name, value] : saved_) {
    if (value) setenv(name.c_str(), value->c_str(), 1);
    else unsetenv(name.c_str());
  }
}

void FakeNvmlTest::SetUp() {
  env_.set("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML_LIBRARY);
  for (const char* name : {"FAKE_NVML_DEVICES", "FAKE_NVML_LOAD", "FAKE_NVML_FAIL", "FAKE_NVML_MAX_HELD_MHZ",
                           "FAKE_NVML_STATE_FILE"})
    env_.unset(name);
  fake_ = dlopen(JOULE_FAKE_NVML_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(fake_, nullptr) << dlerror();
  setter_calls_ = reinterpret_cast<unsigned (*)()>(dlsym(fake_, "fakeNvmlSetterCalls"));
  reset_ = reinterpret_cast<void (*)()>(dlsym(fake_, "fakeNvmlReset"));
  ASSERT_TRUE(setter_calls_ && reset_);
  reset_();
}

void FakeNvmlTest::TearDown() {
  if (reset_) reset_();
  if (fake_) dlclose(fake_);
}

}  // namespace joule::testing
