// Helpers of the GPU tests (tests/test_cuda_*.cpp): the skip without a GPU, and bf16 tensors on the
// host (rounding f32 to bf16 and back) for comparisons with the CPU reference.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "core/build_info.h"
#include "core/dtype.h"
#include "core/tensor.h"

#if JOULE_HAVE_CUDA
#include "cuda/device.h"

// Skips the test, with the runtime's reason, where no CUDA device is visible.
#define SKIP_WITHOUT_GPU()                                                               \
  do {                                                                                   \
    const ::joule::CudaDevices devices = ::joule::probe_cuda_devices();                  \
    if (devices.count == 0) GTEST_SKIP() << "no CUDA device here: " << devices.why_none; \
  } while (0)
#endif

namespace joule::testing {

// bf16[i] = round-to-nearest-even(f32[i]) (host tensors).
inline Tensor to_bf16(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), DType::bf16);
  for (int64_t i = 0; i < t.numel(); ++i) out.data<BFloat16>()[i] = f32_to_bf16(t.data<float>()[i]);
  return out;
}

// The f32 values of a bf16 host tensor.
inline Tensor widen(const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = bf16_to_f32(t.data<BFloat16>()[i]);
  return Tensor::from_floats(out, t.shape());
}

}  // namespace joule::testing
