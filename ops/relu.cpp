// ReLU, CPU reference: branch-free elementwise loops the compiler vectorizes, split over OpenMP
// threads once a tensor is large enough to pay for the fork (≈32k elements).
#include "ops/relu.h"
#include "ops/gpu_ops.h"

namespace joule {

void relu_forward(Context& ctx, Tensor& y, const Tensor& x) {
  if (!ctx.device.is_cpu()) return gpu_ops(ctx, "relu_forward").relu_forward(ctx, y, x);
  check_cpu_tensor(x, "relu_forward", "x", -1);
  ensure_tensor(ctx, y, x.shape(), DType::f32);  // a no-op when y is x (in place)
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for simd num_threads(ctx.num_threads) schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] < 0.0f ? 0.0f : px[i];  // NaN propagates
}

void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  if (!ctx.device.is_cpu()) return gpu_ops(ctx, "relu_backward").relu_backward(ctx, dx, dy, y);
  const char* op = "relu_backward";
  check_cpu_tensor(dy, op, "dy", -1);
  check_cpu_tensor(y, op, "y", -1);
  JOULE_CHECK(dy.shape() == y.shape(), op, ": dy must have the shape of y = ", shape_str(y.shape()), ", got ",
              dy.describe());
  ensure_tensor(ctx, dx, dy.shape(), DType::f32);  // a no-op when dx is dy (in place)
  const float* pdy = dy.data<float>();
  const float* py = y.data<float>();
  float* pdx = dx.data<float>();
  const int64_t n = dy.numel();
#pragma omp parallel for simd num_threads(ctx.num_threads) schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) pdx[i] = py[i] > 0.0f ? pdy[i] : 0.0f;
}

}  // namespace joule
