// CPU reference of maxpool2d (see maxpool2d.h for the contract and the dimension letters).
// Both passes are memory-bound loops over the N*C independent planes, split across
// ctx.num_threads OpenMP threads. The common 2x2/stride-2 window has its own loop.
#include "ops/maxpool2d.h"
#include "ops/gpu_ops.h"

#include <algorithm>
#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace joule {
namespace {

// Inputs smaller than this (in elements, ~10 us of work) run on one thread: waking others costs more.
constexpr int64_t parallel_min = 1 << 15;

// Replaces (best, index) by (v, v_index) when v wins: strictly greater, so the first maximum wins;
// a NaN wins over any number and then stays (the first NaN wins).
inline void take_max(float& best, int32_t& index, float v, int32_t v_index) {
  if (!(v <= best) && best == best) {
    best = v;
    index = v_index;
  }
}

// One (H, W) plane -> one (P, Q) plane, any window.
void pool_plane(const float* x, float* y, int32_t* arg, int64_t W, int64_t P, int64_t Q, int64_t kernel,
                int64_t stride) {
  for (int64_t p = 0; p < P; ++p)
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t first = p * stride * W + q * stride;
      float best = x[first];
      int32_t index = static_cast<int32_t>(first);
      for (int64_t i = 0; i < kernel; ++i)
        for (int64_t j = 0; j < kernel; ++j) {
          const int64_t at = first + i * W + j;
          take_max(best, index, x[at], static_cast<int32_t>(at));
        }
      y[p * Q + q] = best;
      arg[p * Q + q] = index;
    }
}

#if defined(__AVX512F__)
// The 2x2 window with stride 2 (every CNN here), 16 outputs at a time: the scalar loop runs at
// ~2 ns per output on random data (unpredictable branches; GCC 12 neither if-converts nor
// vectorizes it), this one at memory speed. Same rule as take_max, lane by lane.
void pool_plane_2x2(const float* x, float* y, int32_t* arg, int64_t W, int64_t P, int64_t Q) {
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i even = _mm512_slli_epi32(lane, 1), odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i below = _mm512_set1_epi32(static_cast<int32_t>(W)), one = _mm512_set1_epi32(1);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t q = 0; q < Q; q += 16) {
      const int64_t n = std::min<int64_t>(16, Q - q);  // outputs in this block; 2n inputs per row
      const __mmask16 lo = static_cast<__mmask16>(n >= 8 ? 0xFFFFu : (1u << (2 * n)) - 1);
      const __mmask16 hi = static_cast<__mmask16>(n > 8 ? (1u << (2 * n - 16)) - 1 : 0u);
      const int64_t at = 2 * p * W + 2 * q;
      __m512 e[2], o[2];
      for (int i = 0; i < 2; ++i) {
        const __m512 a = _mm512_maskz_loadu_ps(lo, x + at + i * W);
        const __m512 b = _mm512_maskz_loadu_ps(hi, x + at + i * W + 16);
        e[i] = _mm512_permutex2var_ps(a, even, b);
        o[i] = _mm512_permutex2var_ps(a, odd, b);
      }
      const __m512i first = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(at)), even);
      __m512 best = e[0];
      __m512i index = first;
      auto take = [&](__m512 v, __m512i v_index) {
        const __mmask16 m = _mm512_cmp_ps_mask(v, best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
        best = _mm512_mask_mov_ps(best, m, v);
        index = _mm512_mask_mov_epi32(index, m, v_index);
      };
      take(o[0], _mm512_add_epi32(first, one));
      take(e[1], _mm512_add_epi32(first, below));
      take(o[1], _mm512_add_epi32(_mm512_add_epi32(first, below), one));
      const __mmask16 out = static_cast<__mmask16>((1u << n) - 1);
      _mm512_mask_storeu_ps(y + p * Q + q, out, best);
      _mm512_mask_storeu_epi32(arg + p * Q + q, out, index);
    }
}
#endif

}  // namespace

void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int kernel, int stride) {
  if (!ctx.device.is_cpu())
    return gpu_ops(ctx, "maxpool2d_forward").maxpool2d_forward(ctx, y, argmax, x, kernel, stride);
  const char* op = "maxpool2d_forward";
  check_cpu_tensor(x, op, "x", 4, DType::f32);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  JOULE_CHECK(kernel >= 1, op, ": kernel must be >= 1, got ", kernel);
  JOULE_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
  JOULE_CHECK(kernel <= H && kernel <= W, op, ": kernel ", kernel, "x", kernel, " is larger than x ", x.describe());
  JOULE_CHECK(H * W <= INT32_MAX, op, ": x ", x.describe(), " has planes too large for i32 argmax");
  const int64_t P = (H - kernel) / stride + 1, Q = (W - kernel) / stride + 1;
  ensure_tensor(ctx, y, {N, C, P, Q}, DType::f32);
  ensure_tensor(ctx, argmax, {N, C, P, Q}, DType::i32);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  int32_t* ap = argmax.data<int32_t>();
  const int64_t planes = N * C;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (planes > 1 && planes * H * W >= parallel_min)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xs = xp + plane * H * W;
    float* ys = yp + plane * P * Q;
    int32_t* as = ap + plane * P * Q;
#if defined(__AVX512F__)
    if (kernel == 2 && stride == 2) {
      pool_plane_2x2(xs, ys, as, W, P, Q);
      continue;
    }
#endif
    pool_plane(xs, ys, as, W, P, Q, kernel, stride);
  }
}

void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, const Shape& x_shape) {
  if (!ctx.device.is_cpu()) return gpu_ops(ctx, "maxpool2d_backward").maxpool2d_backward(ctx, dx, dy, argmax, x_shape);
  const char* op = "maxpool2d_backward";
  check_cpu_tensor(dy, op, "dy", 4, DType::f32);
  check_cpu_tensor(argmax, op, "argmax", 4, DType::i32);
  JOULE_CHECK(argmax.shape() == dy.shape(), op, ": argmax ", argmax.describe(), " must have the shape of dy ",
              dy.describe());
  JOULE_CHECK(x_shape.size() == 4 && x_shape[0] == dy.size(0) && x_shape[1] == dy.size(1), op, ": x_shape ",
              shape_str(x_shape), " must be [N, C, H, W] with N, C of dy ", dy.describe());
  const int64_t planes = x_shape[0] * x_shape[1], HW = x_shape[2] * x_shape[3], PQ = dy.size(2) * dy.size(3);
  ensure_tensor(ctx, dx, x_shape, DType::f32);
  const float* dyp = dy.data<float>();
  const int32_t* ap = argmax.data<int32_t>();
  float* dxp = dx.data<float>();
  int64_t bad = 0;  // argmax entries outside the plane (an argmax not made for this x_shape)
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) reduction(+ : bad) \
    if (planes > 1 && planes * HW >= parallel_min)
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
  JOULE_CHECK(bad == 0, op, ": argmax ", argmax.describe(), " holds ", bad, " indices outside the ", x_shape[2], "x",
              x_shape[3], " planes of x_shape ", shape_str(x_shape));
}

}  // namespace joule
