// See convert.h. One grid-stride kernel per direction.
#include "cuda/convert.h"

#include <cuda_bf16.h>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/tensor_check.h"

namespace joule::cuda {
namespace {

__global__ void to_bf16_kernel(__nv_bfloat16* dst, const float* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void to_f32_kernel(float* dst, const __nv_bfloat16* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = __bfloat162float(src[i]);
}

}  // namespace

void convert(Context& ctx, Tensor& dst, const Tensor& src, DType dtype) {
  const char* op = "cuda::convert";
  check_gpu_tensor(ctx, src, op, "src", -1, {DType::f32, DType::bf16});
  JOULE_CHECK(dtype == DType::f32 || dtype == DType::bf16, op, ": to ", dtype_name(dtype), ": only f32 and bf16");
  JOULE_CHECK(dst.raw_data() != src.raw_data() || !dst.defined(), op, ": dst must not be src");
  ensure_tensor(ctx, dst, src.shape(), dtype);
  const int64_t n = src.numel();
  if (n == 0) return;
  cudaStream_t stream = device_state(ctx).stream();
  if (src.dtype() == dtype) {
    JOULE_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.nbytes(), cudaMemcpyDeviceToDevice, stream));
  } else if (dtype == DType::bf16) {
    to_bf16_kernel<<<blocks_for(n), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(dst.raw_data()), src.data<float>(),
                                                      n);
  } else {
    to_f32_kernel<<<blocks_for(n), 256, 0, stream>>>(dst.data<float>(),
                                                     static_cast<const __nv_bfloat16*>(src.raw_data()), n);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace joule::cuda
