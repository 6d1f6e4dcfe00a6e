// Context: everything an op may use besides its tensors — the device, the CPU thread count and GEMM
// backend, and the identity of the random stream (seed, rank, step). Owned by the caller and passed explicitly;
// the CUDA backend adds its stream and library handles here. Nothing global.
#pragma once

#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "core/rng.h"

namespace joule {
class ConvBackend;
class DeviceRuntime;
class GemmBackend;
class GpuOps;
}

namespace joule {

struct Context {
  Device device = Device::cpu();
  int num_threads = 1;  // OpenMP threads for CPU ops (Eigen GEMMs use the same count)
  uint64_t seed = 0;
  uint32_t rank = 0;
  uint64_t step = 0;  // the training step; dropout masks and other per-step draws key on it
  // The CPU math backend of the f32 GEMMs (core/gemm.h); none = Eigen, the reference. Shared by
  // copies of this context, which must not run GEMMs at the same time (the backend caches state).
  std::shared_ptr<GemmBackend> gemm;
  // The compute precision of GEMMs (core/gemm.h); may change at any step boundary. At bf16 the GEMMs
  // run through gemm_bf16 (oneDNN's bf16 matmul, created on first use, shared like gemm); only
  // resolve_precision's results belong here (bf16 where it is unavailable fails the first GEMM).
  Precision precision = Precision::f32;
  std::shared_ptr<GemmBackend> gemm_bf16;
  // Convolutions at bf16 (core/conv_bf16.h: oneDNN's bf16 convolution), created on first use, shared like gemm.
  std::shared_ptr<ConvBackend> conv_bf16;

  // On a GPU (device cuda:N): the device's memory, stream and library handles (core/device_runtime.h;
  // cuda/device.h implements it and make_cuda_context sets it). Shared by copies; null on the CPU.
  std::shared_ptr<DeviceRuntime> device_runtime;
  // On a GPU: the ops' GPU implementations (ops/gpu_ops.h; opaque here), set by make_cuda_context.
  std::shared_ptr<GpuOps> gpu_ops;

  CounterRng rng(RngStream stream) const { return CounterRng(seed, rank, step, stream); }
};

// A CPU context using `threads` threads (0 = all hardware threads); applies the count to OpenMP/Eigen.
Context make_cpu_context(int threads, uint64_t seed);

}  // namespace joule
