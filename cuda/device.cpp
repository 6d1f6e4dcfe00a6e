// See device.h.
#include "cuda/device.h"

#include <cstring>

#include "cuda/check.h"
#include "cuda/gpu_ops.h"

namespace joule {

CudaDevices probe_cuda_devices() {
  CudaDevices devices;
  const cudaError_t status = cudaGetDeviceCount(&devices.count);
  if (status != cudaSuccess) {
    devices.count = 0;
    devices.why_none = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    (void)cudaGetLastError();  // clear it: later calls must not see it
  } else if (devices.count == 0) {
    devices.why_none = "the CUDA runtime reports no device";
  }
  return devices;
}

std::string describe_cuda_device(int index) {
  cudaDeviceProp p{};
  JOULE_CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  char bus[32];
  JOULE_CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof bus, index));
  char gib[32];
  std::snprintf(gib, sizeof gib, "%.1f", static_cast<double>(p.totalGlobalMem) / (1u << 30));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " + gib + " GiB, PCI " +
         bus + ")";
}

DeviceState::DeviceState(int device) : device_(device), allocator_(device) {
  const CudaDevices devices = probe_cuda_devices();
  JOULE_CHECK(device >= 0 && device < devices.count, "cuda:", device, " is not available: ",
              devices.count == 0 ? devices.why_none : std::to_string(devices.count) + " device(s) here");
  JOULE_CUDA_CHECK(cudaSetDevice(device));
  JOULE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

cublasHandle_t DeviceState::blas() {
  if (blas_ == nullptr) {
    JOULE_CUDA_CHECK(cudaSetDevice(device_));
    JOULE_CUBLAS_CHECK(cublasCreate(&blas_));
    JOULE_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  }
  return blas_;
}

cudnnHandle_t DeviceState::dnn() {
  if (dnn_ == nullptr) {
    JOULE_CUDA_CHECK(cudaSetDevice(device_));
    JOULE_CUDNN_CHECK(cudnnCreate(&dnn_));
    JOULE_CUDNN_CHECK(cudnnSetStream(dnn_, stream_));
  }
  return dnn_;
}

DeviceState::~DeviceState() {
  cudaSetDevice(device_);
  op_caches_.clear();  // their descriptors before the handles
  if (blas_ != nullptr) cublasDestroy(blas_);
  if (dnn_ != nullptr) cudnnDestroy(dnn_);
  if (stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
}

Context make_cuda_context(int device, int threads, uint64_t seed) {
  Context ctx = make_cpu_context(threads, seed);
  ctx.device = Device::cuda(device);
  ctx.device_runtime = std::make_shared<DeviceState>(device);
  ctx.gpu_ops = make_cuda_ops();
  return ctx;
}

DeviceState& device_state(const Context& ctx) {
  JOULE_CHECK(!ctx.device.is_cpu() && ctx.device_runtime != nullptr, "a GPU op got a context on ", ctx.device.str());
  return static_cast<DeviceState&>(*ctx.device_runtime);  // only make_cuda_context sets a CUDA device's runtime
}

Storage DeviceState::allocate(size_t bytes) {
  void* data = allocator_.allocate(bytes);
  // the deleter keeps this state (stream, allocator) alive as long as the memory
  std::shared_ptr<DeviceState> self = shared_from_this();
  return Storage(data, bytes, device(), [self](void* p) { self->allocator_.release(p); });
}

void DeviceState::fill_zero(const Tensor& dst) {
  JOULE_CUDA_CHECK(cudaMemsetAsync(dst.raw_data(), 0, dst.nbytes(), stream_));
}

void DeviceState::copy(const Tensor& dst, const Tensor& src) {
  const bool to_host = dst.device().is_cpu(), from_host = src.device().is_cpu();
  const cudaMemcpyKind kind = from_host ? (to_host ? cudaMemcpyHostToHost : cudaMemcpyHostToDevice)
                                        : (to_host ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
  JOULE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.nbytes(), kind, stream_));
  if (to_host || from_host) JOULE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

namespace cuda {

Tensor empty(const Context& ctx, const Shape& shape, DType dtype) {
  device_state(ctx);  // a GPU context, else the error names the device
  return empty_tensor(ctx, shape, dtype);
}

Tensor to_device(const Context& ctx, const Tensor& host) {
  JOULE_CHECK(host.device().is_cpu(), "cuda::to_device: ", host.describe(), " is not on the CPU");
  Tensor out = empty(ctx, host.shape(), host.dtype());
  copy_tensor(ctx, out, host);
  return out;
}

Tensor to_host(const Context& ctx, const Tensor& device) {
  JOULE_CHECK(!device.device().is_cpu(), "cuda::to_host: ", device.describe(), " is already on the CPU");
  Tensor out = Tensor::empty(device.shape(), device.dtype());
  copy_tensor(ctx, out, device);
  return out;
}

void synchronize(const Context& ctx) { JOULE_CUDA_CHECK(cudaStreamSynchronize(device_state(ctx).stream())); }

}  // namespace cuda
}  // namespace joule
