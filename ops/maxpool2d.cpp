// CPU reference of maxpool2d (see maxpool2d.h for the contract and the dimension letters).
// Both passes are memory-bound loops over the N*C independent planes, split across
// ctx.num_threads OpenMP threads. The common 2x2 window is instantiated with a compile-time size.
#include "ops/maxpool2d.h"

#include <algorithm>
#include <cmath>

namespace joule {
namespace {

void check_cpu_tensor(const Tensor& t, const char* op, const char* arg, int ndim, DType dtype) {
  check_tensor(t, op, arg, ndim, dtype);
  JOULE_CHECK(t.device().is_cpu(), op, ": built without CUDA (tensor on ", t.device().str(), ")");
}

// One (H, W) plane -> one (P, Q) plane. Kernel is the window size when known at compile time, else 0.
template <int Kernel>
void pool_plane(const float* x, float* y, int32_t* arg, int64_t H, int64_t W, int64_t P, int64_t Q,
                int64_t runtime_kernel, int64_t stride) {
  const int64_t kernel = Kernel > 0 ? Kernel : runtime_kernel;
  (void)H;
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t first = p * stride * W + q * stride;
      float best = x[first];
      int64_t best_index = first;
      for (int64_t i = 0; i < kernel; ++i) {
        const float* row = x + first + i * W;
        for (int64_t j = 0; j < kernel; ++j) {
          const float v = row[j];
          // strict >: the first maximum wins; a NaN wins over any number (and the first NaN over NaNs)
          if (v > best || (std::isnan(v) && !std::isnan(best))) {
            best = v;
            best_index = first + i * W + j;
          }
        }
      }
      y[p * Q + q] = best;
      arg[p * Q + q] = static_cast<int32_t>(best_index);
    }
  }
}

}  // namespace

void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int kernel, int stride) {
  const char* op = "maxpool2d_forward";
  check_cpu_tensor(x, op, "x", 4, DType::f32);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  JOULE_CHECK(kernel >= 1, op, ": kernel must be >= 1, got ", kernel);
  JOULE_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
  JOULE_CHECK(kernel <= H && kernel <= W, op, ": kernel ", kernel, "x", kernel, " is larger than x ", x.describe());
  JOULE_CHECK(H * W <= INT32_MAX, op, ": x ", x.describe(), " has planes too large for i32 argmax");
  const int64_t P = (H - kernel) / stride + 1, Q = (W - kernel) / stride + 1;
  ensure_tensor(y, {N, C, P, Q}, DType::f32, x.device());
  ensure_tensor(argmax, {N, C, P, Q}, DType::i32, x.device());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  int32_t* ap = argmax.data<int32_t>();
  const int64_t planes = N * C;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (planes > 1)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xs = xp + plane * H * W;
    float* ys = yp + plane * P * Q;
    int32_t* as = ap + plane * P * Q;
    if (kernel == 2)
      pool_plane<2>(xs, ys, as, H, W, P, Q, kernel, stride);
    else if (kernel == 3)
      pool_plane<3>(xs, ys, as, H, W, P, Q, kernel, stride);
    else
      pool_plane<0>(xs, ys, as, H, W, P, Q, kernel, stride);
  }
}

void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, const Shape& x_shape) {
  const char* op = "maxpool2d_backward";
  check_cpu_tensor(dy, op, "dy", 4, DType::f32);
  check_cpu_tensor(argmax, op, "argmax", 4, DType::i32);
  JOULE_CHECK(argmax.shape() == dy.shape(), op, ": argmax ", argmax.describe(), " must have the shape of dy ",
              dy.describe());
  JOULE_CHECK(x_shape.size() == 4 && x_shape[0] == dy.size(0) && x_shape[1] == dy.size(1), op, ": x_shape ",
              shape_str(x_shape), " must be [N, C, H, W] with N, C of dy ", dy.describe());
  const int64_t planes = x_shape[0] * x_shape[1], HW = x_shape[2] * x_shape[3], PQ = dy.size(2) * dy.size(3);
  ensure_tensor(dx, x_shape, DType::f32, dy.device());
  const float* dyp = dy.data<float>();
  const int32_t* ap = argmax.data<int32_t>();
  float* dxp = dx.data<float>();
  int64_t bad = 0;  // argmax entries outside the plane (an argmax not made for this x_shape)
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) reduction(+ : bad) if (planes > 1)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* dxs = dxp + plane * HW;
    const float* dys = dyp + plane * PQ;
    const int32_t* as = ap + plane * PQ;
    std::fill(dxs, dxs + HW, 0.0f);
    for (int64_t i = 0; i < PQ; ++i) {
      const int32_t a = as[i];
      if (a < 0 || a >= HW) {
        ++bad;
        continue;
      }
      dxs[a] += dys[i];
    }
  }
  JOULE_CHECK(bad == 0, op, ": argmax ", argmax.describe(), " holds ", bad, " indices outside the ", x_shape[2],
              "x", x_shape[3], " planes of x_shape ", shape_str(x_shape));
}

}  // namespace joule
