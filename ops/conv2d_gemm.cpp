// See conv2d_gemm.h. The copies (im2col, transposes, col2im) are split over the batch with OpenMP;
// each GEMM runs on the context's threads. Sums over the batch happen inside the GEMM (f32
// accumulation), in an order that does not depend on the thread count of these loops.
#include "ops/conv2d_gemm.h"

#include <algorithm>

#include "core/gemm.h"
#include "core/tensor.h"

namespace joule::detail {
namespace {

// colsT[(n*P + p)*Q + q][(c*R + r)*S + s] = x[n][c][p*stride + r - pad][q*stride + s - pad], 0 outside.
void im2col_rows(const Context& ctx, const ConvGeometry& g, const float* x, float* colsT) {
  const int64_t D = g.depth();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t p = 0; p < g.P; ++p)
      for (int64_t q = 0; q < g.Q; ++q) {
        float* row = colsT + ((n * g.P + p) * g.Q + q) * D;
        const int64_t h0 = p * g.stride - g.pad, w0 = q * g.stride - g.pad;
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t r = 0; r < g.R; ++r) {
            float* out = row + (c * g.R + r) * g.S;
            const int64_t h = h0 + r;
            if (h < 0 || h >= g.H) {
              std::fill_n(out, g.S, 0.0f);
              continue;
            }
            const float* in = x + ((n * g.C + c) * g.H + h) * g.W;
            for (int64_t s = 0; s < g.S; ++s) {
              const int64_t w = w0 + s;
              out[s] = w >= 0 && w < g.W ? in[w] : 0.0f;
            }
          }
      }
}

// dx[n][c][h][w] = Σ of the dcolsT entries im2col_rows copied from x[n][c][h][w] (overwrites dx).
void col2im_rows(const Context& ctx, const ConvGeometry& g, const float* dcolsT, float* dx) {
  const int64_t D = g.depth();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n) {
    float* dx_n = dx + n * g.C * g.H * g.W;
    std::fill_n(dx_n, g.C * g.H * g.W, 0.0f);
    for (int64_t p = 0; p < g.P; ++p)
      for (int64_t q = 0; q < g.Q; ++q) {
        const float* row = dcolsT + ((n * g.P + p) * g.Q + q) * D;
        const int64_t h0 = p * g.stride - g.pad, w0 = q * g.stride - g.pad;
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t r = 0; r < g.R; ++r) {
            const int64_t h = h0 + r;
            if (h < 0 || h >= g.H) continue;
            const float* in = row + (c * g.R + r) * g.S;
            float* out = dx_n + (c * g.H + h) * g.W;
            for (int64_t s = 0; s < g.S; ++s) {
              const int64_t w = w0 + s;
              if (w >= 0 && w < g.W) out[w] += in[s];
            }
          }
      }
  }
}

}  // namespace

void conv2d_forward_gemm(Context& ctx, const ConvGeometry& g, float* y, const float* x, const float* weight,
                         const float* bias) {
  const int64_t D = g.depth(), PQ = g.pixels(), rows = g.N * PQ;
  Tensor colsT = Tensor::empty({std::max<int64_t>(rows * D, 1)});
  Tensor yT = Tensor::empty({std::max<int64_t>(rows * g.K, 1)});
  im2col_rows(ctx, g, x, colsT.data<float>());
  gemm_f32(ctx, Transpose::no, Transpose::yes, rows, g.K, D, 1.0f, colsT.data<float>(), D, weight, D, 0.0f,
           yT.data<float>(), g.K);
  const float* yt = yT.data<float>();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k) {
      const float b = bias != nullptr ? bias[k] : 0.0f;
      float* out = y + (n * g.K + k) * PQ;
      const float* in = yt + n * PQ * g.K + k;
      for (int64_t i = 0; i < PQ; ++i) out[i] = in[i * g.K] + b;
    }
}

void conv2d_backward_gemm(Context& ctx, const ConvGeometry& g, float* dx, float* dweight, float* dbias,
                          const float* dy, const float* x, const float* weight, bool accumulate) {
  const int64_t D = g.depth(), PQ = g.pixels(), rows = g.N * PQ;
  Tensor dyT_t = Tensor::empty({std::max<int64_t>(rows * g.K, 1)});
  Tensor cols_t = Tensor::empty({std::max<int64_t>(rows * D, 1)});  // colsT, then dcolsT
  float* dyT = dyT_t.data<float>();
  float* cols = cols_t.data<float>();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k) {
      const float* in = dy + (n * g.K + k) * PQ;
      float* out = dyT + n * PQ * g.K + k;
      for (int64_t i = 0; i < PQ; ++i) out[i * g.K] = in[i];
    }
  if (dbias != nullptr) {  // per channel, samples in order: the same sums whatever the thread count
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static)
    for (int64_t k = 0; k < g.K; ++k) {
      float sum = accumulate ? dbias[k] : 0.0f;
      for (int64_t n = 0; n < g.N; ++n) {
        const float* in = dy + (n * g.K + k) * PQ;
        float part = 0.0f;
        for (int64_t i = 0; i < PQ; ++i) part += in[i];
        sum += part;
      }
      dbias[k] = sum;
    }
  }
  im2col_rows(ctx, g, x, cols);
  gemm_f32(ctx, Transpose::yes, Transpose::no, g.K, D, rows, 1.0f, dyT, g.K, cols, D, accumulate ? 1.0f : 0.0f,
           dweight, D);
  if (dx == nullptr) return;
  gemm_f32(ctx, Transpose::no, Transpose::no, rows, D, g.K, 1.0f, dyT, g.K, weight, D, 0.0f, cols, D);
  col2im_rows(ctx, g, cols, dx);
}

}  // namespace joule::detail
