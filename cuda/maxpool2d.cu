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
        if (isnan(best_v)) continue;             // a NaN already won: it propagates
        if (isnan(v) || v > best_v) best = at, best_v = v;  // strictly greater: the first maximum wins ties
      }
    y[o] = in[best];
    argmax[o] = static_cast<int32_t>(best);
  }
}

// dx[plane, h, w] = Σ over the outputs (p, q) of that plane whose window holds (h, w) and whose
// argmax is h·W + w, in (p, q) order.
template <class T>
__global__ void pool_backward(T* dx, const T* dy, const int32_t* argmax, PoolShape s) {
  const int64_t total = s.N * s.C * s.H * s.W;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t w = i % s.W, h = (i / s.W) % s.H, plane = i / (s.H * s.W);
    const int64_t flat = h * s.W + w;
    // outputs whose window covers (h, w): p*stride <= h < p*stride + kernel
    const int64_t p_lo = h >= s.kernel ? (h - s.kernel) / s.stride + 1 : 0, p_hi = min(h / s.stride, s.P - 1);
    const int64_t q_lo = w >= s.kernel ? (w - s.kernel) / s.stride + 1 : 0, q_hi = min(w / s.stride, s.Q - 1);
    float sum = 0.0f;
    for (int64_t p = p_lo; p <= p_hi; ++p)
      for (int64_t q = q_lo; q <= q_hi; ++q) {
        const int64_t o = (plane * s.P + p) * s.Q + q;
        if (argmax[o] == flat) sum += static_cast<float>(dy[o]);
      }
    dx[i] = static_cast<T>(sum);
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
  ensure(ctx, y, {s.N, s.C, s.P, s.Q}, x.dtype());
  ensure(ctx, argmax, {s.N, s.C, s.P, s.Q}, DType::i32);
  const int64_t total = s.N * s.C * s.P * s.Q;
  if (total == 0) return;
  cudaStream_t stream = device_state(ctx).stream();
  if (x.dtype() == DType::f32) {
    pool_forward<<<blocks_for(total), 256, 0, stream>>>(y.data<float>(), argmax.data<int32_t>(), x.data<float>(), s);
  } else {
    pool_forward<<<blocks_for(total), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(y.raw_data()), argmax.data<int32_t>(),
                                                        static_cast<const __nv_bfloat16*>(x.raw_data()), s);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
}

void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, const Shape& x_shape,
                        int kernel, int stride) {
  const char* op = "cuda::maxpool2d_backward";
  check_gpu_tensor(ctx, dy, op, "dy", 4, {DType::f32, DType::bf16});
  check_gpu_tensor(ctx, argmax, op, "argmax", 4, {DType::i32});
  JOULE_CHECK(x_shape.size() == 4 && argmax.shape() == dy.shape(), op, ": argmax ", argmax.describe(), " must match dy ",
              dy.describe(), " and x_shape must be [N, C, H, W]");
  PoolShape s{x_shape[0], x_shape[1], x_shape[2], x_shape[3], dy.size(2), dy.size(3), kernel, stride};
  JOULE_CHECK(s.P == (s.H - kernel) / stride + 1 && s.Q == (s.W - kernel) / stride + 1, op, ": dy ", dy.describe(),
              " is not the pooled shape of ", shape_str(x_shape), " at kernel ", kernel, " stride ", stride);
  ensure(ctx, dx, x_shape, dy.dtype());
  const int64_t total = shape_numel(x_shape);
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
