// Shared expectations for op and input tests: a call fails as invalid input with a message naming
// the cause, and a stand-in tensor "on cuda:0" for the "built without CUDA" paths (never read).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace joule::testing {

// Runs `call` and expects a joule::Error of kind invalid_input whose message contains every part.
void expect_invalid_input(const std::function<void()>& call, const std::vector<std::string>& parts);
inline void expect_invalid_input(const std::function<void()>& call, const char* part) {
  expect_invalid_input(call, std::vector<std::string>{part});
}

// Runs `call` and expects a joule::Error of kind io (output that could not be written) naming every part.
void expect_io_error(const std::function<void()>& call, const std::vector<std::string>& parts);

// Runs `call` and expects a joule::Error of kind internal (a broken invariant) naming `part`.
void expect_internal(const std::function<void()>& call, const std::string& part);

// An f32 tensor whose storage claims device cuda:0 (backed by nothing that may be read).
Tensor fake_cuda_tensor(const Shape& shape);

}  // namespace joule::testing
