// See relu.h. Grid-stride loops: 256 threads per block and at most 1024 blocks (an H200 has 132
// SMs; 1024 blocks fill each several times over), each thread taking every gridDim·blockDim-th element.
#include "cuda/relu.h"

#include <cuda_bf16.h>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/tensor_check.h"

namespace joule::cuda {
namespace {

template <class T>
__global__ void relu_forward_kernel(T* y, const T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float v = static_cast<float>(x[i]);
    y[i] = static_cast<T>(v < 0.0f ? 0.0f : v);
  }
}

template <class T>
__global__ void relu_backward_kernel(T* dx, const T* dy, const T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dx[i] = static_cast<float>(y[i]) > 0.0f ? dy[i] : static_cast<T>(0.0f);
}

}  // namespace

void relu_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_gpu_tensor(ctx, x, "cuda::relu_forward", "x", -1, {DType::f32, DType::bf16});
  ensure_tensor(ctx, y, x.shape(), x.dtype());
  const int64_t n = x.numel();
  if (n == 0) return;
  cudaStream_t stream = device_state(ctx).stream();
  if (x.dtype() == DType::f32) {
    relu_forward_kernel<<<blocks_for(n), 256, 0, stream>>>(y.data<float>(), x.data<float>(), n);
  } else {
    relu_forward_kernel<<<blocks_for(n), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(y.raw_data()),
                                                           static_cast<const __nv_bfloat16*>(x.raw_data()), n);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
}

void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  const char* op = "cuda::relu_backward";
  check_gpu_tensor(ctx, dy, op, "dy", -1, {DType::f32, DType::bf16});
  check_gpu_tensor(ctx, y, op, "y", -1, {DType::f32, DType::bf16});
  JOULE_CHECK(dy.shape() == y.shape() && dy.dtype() == y.dtype(), op, ": dy ", dy.describe(), " must match y ",
              y.describe());
  ensure_tensor(ctx, dx, dy.shape(), dy.dtype());
  const int64_t n = dy.numel();
  if (n == 0) return;
  cudaStream_t stream = device_state(ctx).stream();
  if (dy.dtype() == DType::f32) {
    relu_backward_kernel<<<blocks_for(n), 256, 0, stream>>>(dx.data<float>(), dy.data<float>(), y.data<float>(), n);
  } else {
    relu_backward_kernel<<<blocks_for(n), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(dx.raw_data()),
                                                            static_cast<const __nv_bfloat16*>(dy.raw_data()),
                                                            static_cast<const __nv_bfloat16*>(y.raw_data()), n);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace joule::cuda
