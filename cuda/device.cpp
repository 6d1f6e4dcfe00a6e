// See device.h.
#include "cuda/device.h"

#include <cstring>

#include "cuda/check.h"

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
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " + gib +
         " GiB, PCI " + bus + ")";
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
  ctx.device_state = std::make_shared<DeviceState>(device);
  return ctx;
}

DeviceState& device_state(const Context& ctx) {
  JOULE_CHECK(!ctx.device.is_cpu() && ctx.device_state != nullptr, "a GPU op got a context on ", ctx.device.str());
  return *ctx.device_state;
}

namespace cuda {

Tensor empty(const Context& ctx, const Shape& shape, DType dtype) {
  std::shared_ptr<DeviceState> state = ctx.device_state;
  JOULE_CHECK(state != nullptr && !ctx.device.is_cpu(), "cuda::empty needs a context on a GPU, got ", ctx.device.str());
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  void* data = state->allocator().allocate(bytes);
  // the deleter keeps the device state (stream, allocator) alive as long as the tensor
  Storage storage(data, bytes, ctx.device, [state](void* p) { state->allocator().release(p); });
  return Tensor(std::move(storage), 0, shape, dtype);
}

void ensure(const Context& ctx, Tensor& t, const Shape& shape, DType dtype) {
  if (t.defined() && t.shape() == shape && t.dtype() == dtype && t.device() == ctx.device) return;
  t = empty(ctx, shape, dtype);
}

Tensor to_device(const Context& ctx, const Tensor& host) {
  JOULE_CHECK(host.device().is_cpu(), "cuda::to_device: ", host.describe(), " is not on the CPU");
  Tensor out = empty(ctx, host.shape(), host.dtype());
  JOULE_CUDA_CHECK(cudaMemcpyAsync(out.raw_data(), host.raw_data(), host.nbytes(), cudaMemcpyHostToDevice,
                                   device_state(ctx).stream()));
  synchronize(ctx);  // the host tensor may be freed or changed as soon as we return
  return out;
}

Tensor to_host(const Context& ctx, const Tensor& device) {
  JOULE_CHECK(!device.device().is_cpu(), "cuda::to_host: ", device.describe(), " is already on the CPU");
  Tensor out = Tensor::empty(device.shape(), device.dtype());
  JOULE_CUDA_CHECK(cudaMemcpyAsync(out.raw_data(), device.raw_data(), device.nbytes(), cudaMemcpyDeviceToHost,
                                   device_state(ctx).stream()));
  synchronize(ctx);
  return out;
}

void synchronize(const Context& ctx) { JOULE_CUDA_CHECK(cudaStreamSynchronize(device_state(ctx).stream())); }

}  // namespace cuda
}  // namespace joule
