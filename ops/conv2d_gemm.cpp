// See conv2d_gemm.h. The copies (im2col, col2im, regrouping y and dy) are split over the batch with
// OpenMP; each GEMM runs on the context's threads. Sums over the batch happen inside the GEMM (f32
// accumulation) or per channel in sample order, independent of the thread count of these loops.
#include "ops/conv2d_gemm.h"

#include <algorithm>

#include "core/gemm.h"
#include "core/tensor.h"

namespace joule::detail {
namespace {

Tensor buffer(int64_t floats) { return Tensor::empty({std::max<int64_t>(floats, 1)}); }

// The valid q of a kernel column s: q*stride + s - pad in [0, W) for q in [q_lo, q_hi).
void valid_q(const ConvGeometry& g, int64_t s, int64_t* q_lo, int64_t* q_hi) {
  int64_t lo = 0, hi = g.Q;
  while (lo < hi && lo * g.stride + s - g.pad < 0) ++lo;
  while (hi > lo && (hi - 1) * g.stride + s - g.pad >= g.W) --hi;
  *q_lo = lo, *q_hi = hi;
}

// cols[(c*R + r)*S + s][n*P*Q + p*Q + q] = x[n][c][p*stride + r - pad][q*stride + s - pad], 0 outside.
void im2col_wide(const Context& ctx, const ConvGeometry& g, const float* x, float* cols) {
  const int64_t PQ = g.pixels(), L = g.N * PQ;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
          int64_t q_lo, q_hi;
          valid_q(g, s, &q_lo, &q_hi);
          float* row = cols + ((c * g.R + r) * g.S + s) * L + n * PQ;
          for (int64_t p = 0; p < g.P; ++p) {
            float* out = row + p * g.Q;
            const int64_t h = p * g.stride + r - g.pad;
            if (h < 0 || h >= g.H) {
              std::fill_n(out, g.Q, 0.0f);
              continue;
            }
            const float* in = x + ((n * g.C + c) * g.H + h) * g.W;
            const int64_t shift = s - g.pad;  // column q reads in[q*stride + shift]
            std::fill(out, out + q_lo, 0.0f);
            if (g.stride == 1) {
              std::copy(in + q_lo + shift, in + q_hi + shift, out + q_lo);
            } else {
              for (int64_t q = q_lo; q < q_hi; ++q) out[q] = in[q * g.stride + shift];
            }
            std::fill(out + q_hi, out + g.Q, 0.0f);
          }
        }
}

// dx[n][c][h][w] = Σ of the dcols entries im2col_wide copied from x[n][c][h][w] (overwrites dx).
void col2im_wide(const Context& ctx, const ConvGeometry& g, const float* dcols, float* dx) {
  const int64_t PQ = g.pixels(), L = g.N * PQ, CHW = g.C * g.H * g.W;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n) {
    std::fill_n(dx + n * CHW, CHW, 0.0f);
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
          int64_t q_lo, q_hi;
          valid_q(g, s, &q_lo, &q_hi);
          const float* row = dcols + ((c * g.R + r) * g.S + s) * L + n * PQ;
          for (int64_t p = 0; p < g.P; ++p) {
            const int64_t h = p * g.stride + r - g.pad;
            if (h < 0 || h >= g.H) continue;
            const float* in = row + p * g.Q;
            float* out = dx + ((n * g.C + c) * g.H + h) * g.W;
            for (int64_t q = q_lo; q < q_hi; ++q) out[q * g.stride + s - g.pad] += in[q];
          }
        }
  }
}

}  // namespace

void conv2d_forward_gemm(Context& ctx, const ConvGeometry& g, float* y, const float* x, const float* weight,
                         const float* bias) {
  const int64_t D = g.depth(), PQ = g.pixels(), L = g.N * PQ;
  Tensor cols = buffer(D * L), y_wide = buffer(g.K * L);
  im2col_wide(ctx, g, x, cols.data<float>());
  gemm_f32(ctx, Transpose::no, Transpose::no, g.K, L, D, 1.0f, weight, D, cols.data<float>(), L, 0.0f,
           y_wide.data<float>(), L);
  const float* yw = y_wide.data<float>();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k) {
      const float b = bias != nullptr ? bias[k] : 0.0f;
      const float* in = yw + k * L + n * PQ;
      float* out = y + (n * g.K + k) * PQ;
      for (int64_t i = 0; i < PQ; ++i) out[i] = in[i] + b;
    }
}

void conv2d_backward_gemm(Context& ctx, const ConvGeometry& g, float* dx, float* dweight, float* dbias,
                          const float* dy, const float* x, const float* weight, bool accumulate) {
  const int64_t D = g.depth(), PQ = g.pixels(), L = g.N * PQ;
  Tensor dy_wide = buffer(g.K * L), cols = buffer(D * L);  // cols: im2col, then dcols
  float* dyw = dy_wide.data<float>();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k) std::copy_n(dy + (n * g.K + k) * PQ, PQ, dyw + k * L + n * PQ);
  if (dbias != nullptr) {  // per channel, samples in order: the same sums whatever the thread count
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
    for (int64_t k = 0; k < g.K; ++k) {
      float sum = accumulate ? dbias[k] : 0.0f;
      for (int64_t n = 0; n < g.N; ++n) {
        const float* in = dyw + k * L + n * PQ;
        float part = 0.0f;
        for (int64_t i = 0; i < PQ; ++i) part += in[i];
        sum += part;
      }
      dbias[k] = sum;
    }
  }
  im2col_wide(ctx, g, x, cols.data<float>());
  gemm_f32(ctx, Transpose::no, Transpose::yes, g.K, D, L, 1.0f, dyw, L, cols.data<float>(), L,
           accumulate ? 1.0f : 0.0f, dweight, D);
  if (dx == nullptr) return;
  gemm_f32(ctx, Transpose::yes, Transpose::no, D, L, g.K, 1.0f, weight, D, dyw, L, 0.0f, cols.data<float>(), L);
  col2im_wide(ctx, g, cols.data<float>(), dx);
}

}  // namespace joule::detail
