// The CUDA devices this process sees, and the per-device state a Context carries for GPU ops.
//
// probe_cuda_devices() never throws: without a driver or a GPU it returns count 0 and the runtime's
// reason ("cudaErrorNoDevice: no CUDA-capable device is detected"), which GPU tests print when they
// skip. DeviceState (one per Context on a GPU) owns the device's compute stream, its caching
// allocator and its cuBLAS handle; make_cuda_context() builds a Context for device N holding one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "core/context.h"
#include "core/device_runtime.h"
#include "core/tensor.h"
#include "cuda/allocator.h"

namespace joule {

struct CudaDevices {
  int count = 0;
  std::string why_none;  // set when count == 0
};
CudaDevices probe_cuda_devices();

// "NVIDIA H200 (sm_90, 139.8 GiB, PCI 0000:19:00.0)"
std::string describe_cuda_device(int index);

// Everything a GPU op needs besides its tensors; to core and ops it is the context's DeviceRuntime.
class DeviceState final : public DeviceRuntime, public std::enable_shared_from_this<DeviceState> {
 public:
  explicit DeviceState(int device);
  ~DeviceState() override;
  DeviceState(const DeviceState&) = delete;
  DeviceState& operator=(const DeviceState&) = delete;

  Device device() const override { return Device::cuda(device_); }
  Storage allocate(size_t bytes) override;
  void fill_zero(const Tensor& dst) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  int index() const { return device_; }
  cudaStream_t stream() const { return stream_; }  // the compute stream: every op is enqueued here
  CachingAllocator& allocator() { return allocator_; }
  cublasHandle_t blas();  // made on first use, bound to stream()
  cudnnHandle_t dnn();    // made on first use, bound to stream()
  // Per-op caches (e.g. cuDNN convolution plans: descriptors and the chosen algorithms per shape),
  // made by the op that owns them and kept for the context's life.
  std::shared_ptr<void>& op_cache(const char* op) { return op_caches_[op]; }

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  CachingAllocator allocator_;
  std::map<std::string, std::shared_ptr<void>> op_caches_;
};

// A Context on cuda:`device` (the CPU side for host work: `threads` OpenMP threads).
Context make_cuda_context(int device, int threads, uint64_t seed);
// The context's device state; JOULE_CHECK fails when the context is not on a GPU.
DeviceState& device_state(const Context& ctx);

namespace cuda {
// Uninitialized device memory for a tensor on the context's device (from its caching allocator).
Tensor empty(const Context& ctx, const Shape& shape, DType dtype = DType::f32);
// Copies between host and device on the context's stream; to_host waits for the stream.
Tensor to_device(const Context& ctx, const Tensor& host);
Tensor to_host(const Context& ctx, const Tensor& device);
// Waits until every op enqueued on the context's stream has finished.
void synchronize(const Context& ctx);
}  // namespace cuda

}  // namespace joule
