// See maxpool2d.h.
#include "cuda/maxpool2d.h"

#include <cuda_bf16.h>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/tensor_check.h"

namespace joule::cuda {
namespace {

struct PoolShape {
  int64_t N, C, H, W, P, Q;
  int kernel, stride;
};

template <class T>
__global__ void pool_forward(T* y, int32_t* argmax, const T* x, PoolShape s) {
  const int64_t total = s.N * s.C * s.P * s.Q;
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total; o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t q = o % s.Q, p = (o / s.Q) % s.P, plane = o / (s.P * s.Q);
    const T* in = x + plane * s.H * s.W;
    int64_t best = (p * s.stride) * s.W + q * s.stride;
    float best_v = static_cast<float>(in[best]);
    for (int i = 0; i < s.kernel; ++i)
      for (int j = 0; j < s.kernel; ++j) {
        const int64_t at = (p * s.stride + i) * s.W + q * s.stride + j;
        const float v = static_cast<float>(in[at]);
        if (isnan(best_v)) continue;                        // a NaN already won: it propagates
        if (isnan(v) || v > best_v) best = at, best_v = v;  // strictly greater: the first maximum wins ties
      }
    y[o] = in[best];
    argmax[o] = static_cast<int32_t>(best);
  }
}

// One thread per (n, c) plane: dx = 0, then each output's dy added at its argmax, outputs in order —
// the CPU's loop, so overlapping windows sum in the same order (deterministic, no atomics).
template <class T>
__global__ void pool_backward(T* dx, const T* dy, const int32_t* argmax, PoolShape s) {
  const int64_t planes = s.N * s.C, in_plane = s.H * s.W, out_plane = s.P * s.Q;
  for (int64_t plane = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; plane < planes;
       plane += int64_t{gridDim.x} * blockDim.x) {
    T* out = dx + plane * in_plane;
    for (int64_t i = 0; i < in_plane; ++i) out[i] = static_cast<T>(0.0f);
    for (int64_t o = 0; o < out_plane; ++o) {
      const int64_t at = argmax[plane * out_plane + o];
      out[at] = static_cast<T>(static_cast<float>(out[at]) + static_cast<float>(dy[plane * out_plane + o]));
    }
  }
}

}  // namespace

void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int kernel, int stride) {
  const char* op = "cuda::maxpool2d_forward";
  check_gpu_tensor(ctx, x, op, "x", 4, {DType::f32, DType::bf16});
  JOULE_CHECK(kernel >= 1 && stride >= 1 && kernel <= x.size(2) && kernel <= x.size(3), op, ": kernel ", kernel,
              " and stride ", stride, " do not fit x ", x.describe());
  PoolShape s{x.size(0), x.size(1), x.size(2), x.size(3), 0, 0, kernel, stride};
  s.P = (s.H - kernel) / stride + 1, s.Q = (s.W - kernel) / stride + 1;
  ensure_tensor(ctx, y, {s.N, s.C, s.P, s.Q}, x.dtype());
  ensure_tensor(ctx, argmax, {s.N, s.C, s.P, s.Q}, DType::i32);
  const int64_t total = s.N * s.C * s.P * s.Q;
  if (total == 0) return;
  cudaStream_t stream = device_state(ctx).stream();
  if (x.dtype() == DType::f32) {
    pool_forward<<<blocks_for(total), 256, 0, stream>>>(y.data<float>(), argmax.data<int32_t>(), x.data<float>(), s);
  } else {
    pool_forward<<<blocks_for(total), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(y.raw_data()),
                                                        argmax.data<int32_t>(),
                                                        static_cast<const __nv_bfloat16*>(x.raw_data()), s);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
}

void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, const Shape& x_shape) {
  const char* op = "cuda::maxpool2d_backward";
  check_gpu_tensor(ctx, dy, op, "dy", 4, {DType::f32, DType::bf16});
  check_gpu_tensor(ctx, argmax, op, "argmax", 4, {DType::i32});
  JOULE_CHECK(x_shape.size() == 4 && argmax.shape() == dy.shape(), op, ": argmax ", argmax.describe(),
              " must match dy ", dy.describe(), " and x_shape must be [N, C, H, W]");
  PoolShape s{x_shape[0], x_shape[1], x_shape[2], x_shape[3], dy.size(2), dy.size(3), 0, 0};
  JOULE_CHECK(s.N == dy.size(0) && s.C == dy.size(1) && s.P <= s.H && s.Q <= s.W, op, ": dy ", dy.describe(),
              " is not a pooled shape of x_shape ", shape_str(x_shape));
  ensure_tensor(ctx, dx, x_shape, dy.dtype());
  const int64_t total = s.N * s.C;
  if (total == 0) return;
  cudaStream_t stream = device_state(ctx).stream();
  if (dy.dtype() == DType::f32) {
    pool_backward<<<blocks_for(total), 256, 0, stream>>>(dx.data<float>(), dy.data<float>(), argmax.data<int32_t>(), s);
  } else {
    pool_backward<<<blocks_for(total), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(dx.raw_data()),
                                                         static_cast<const __nv_bfloat16*>(dy.raw_data()),
                                                         argmax.data<int32_t>(), s);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace joule::cuda
