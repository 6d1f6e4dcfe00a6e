#include "tests/support/expect_error.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace joule::testing {

namespace {

void expect_error(ErrorKind kind, const char* name, const std::function<void()>& call,
                  const std::vector<std::string>& parts) {
  try {
    call();
    ADD_FAILURE() << "expected a joule::Error (" << name << "), nothing was thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << "expected " << name << ": " << e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(e.message().find(part), std::string::npos) << "message lacks '" << part << "': " << e.message();
    }
  }
}

}  // namespace

void expect_invalid_input(const std::function<void()>& call, const std::vector<std::string>& parts) {
  expect_error(ErrorKind::invalid_input, "invalid_input", call, parts);
}

void expect_io_error(const std::function<void()>& call, const std::vector<std::string>& parts) {
  expect_error(ErrorKind::io, "io", call, parts);
}

void expect_internal(const std::function<void()>& call, const std::string& part) {
  try {
    call();
    ADD_FAILURE() << "expected a joule::Error (internal), nothing was thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal) << e.what();
    EXPECT_NE(e.message().find(part), std::string::npos) << "message lacks '" << part << "': " << e.message();
  }
}

Tensor fake_cuda_tensor(const Shape& shape) {
  // a valid host address so the Tensor bookkeeping works; ops must reject it before any access
  static float never_read;
  Storage storage(&never_read, static_cast<size_t>(shape_numel(shape)) * 4, Device::cuda(0), [](void*) {});
  return Tensor(storage, 0, shape, DType::f32);
}

}  // namespace joule::testing
