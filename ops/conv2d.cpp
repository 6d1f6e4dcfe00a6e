// CPU reference of conv2d (see conv2d.h for the contract and the dimension letters N C H W K R S P Q).
//
// Lowering: per sample n, im2col builds cols[C*R*S, P*Q] (row (c, r, s), column (p, q)), so that
//   y_n[K, P*Q]         = weight[K, C*R*S] * cols + bias       (forward)
//   dweight^T[C*R*S, K] += cols * dy_n^T                        (backward, summed over n)
//   dcols[C*R*S, P*Q]   = weight^T * dy_n,  dx_n = col2im(dcols) (backward)
// as small_gemm calls on row-major slices (y_n and dy_n are [K, P*Q] slices of NCHW tensors; the
// transposes of weight, dy_n and dweight are small copies). Work is split over the batch, one
// contiguous chunk per OpenMP thread, each thread with its own workspace and its own dweight/dbias
// partial sums, reduced at the end in thread order (deterministic for a given thread count).
// Measured on the CNN's layers at batch 128: one GEMM over 16 samples ran no faster than 16
// per-sample ones (and would need y transposed back to NCHW); small_gemm beat Eigen's GEMM by
// 20-30% (see small_gemm.h). At compute precision bf16 (ctx.precision) a convolution at least
// bf16_min_depth deep instead runs oneDNN's bf16 convolution primitives (core/conv_bf16.h, through
// ctx.conv_bf16); shallower ones stay f32.
#include "ops/conv2d.h"
#include "ops/gpu_ops.h"

#include <algorithm>

#include "core/conv_bf16.h"
#include "core/eigen.h"
#include "ops/small_gemm.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace joule {
namespace {

struct ConvGeometry : ConvShape {
  int64_t depth() const { return C * R * S; }
  int64_t pixels() const { return P * Q; }
  // a 1x1 convolution without stride or padding needs no im2col: cols is x_n itself
  bool identity_cols() const { return R == 1 && S == 1 && stride == 1 && pad == 0; }
};

// Shallow convolutions (C*R*S < bf16_min_depth, like a first layer on grey images: 1*3*3 = 9) stay
// f32 at bf16 too: AMX multiplies bf16 in blocks 32 deep, so a 9-deep product pays for 32.
constexpr int64_t bf16_min_depth = 32;

bool runs_bf16(const Context& ctx, const ConvGeometry& g) {
  return ctx.precision == Precision::bf16 && g.depth() >= bf16_min_depth;
}

ConvBackend& bf16_conv(Context& ctx) {
  if (ctx.conv_bf16 == nullptr) ctx.conv_bf16 = make_bf16_conv();
  return *ctx.conv_bf16;
}

ConvGeometry check_conv(const char* op, const Tensor& x, const Tensor& weight, const Conv2dParams& params) {
  check_cpu_tensor(x, op, "x", 4);
  check_cpu_tensor(weight, op, "weight", 4);
  JOULE_CHECK(params.stride >= 1, op, ": stride must be >= 1, got ", params.stride);
  JOULE_CHECK(params.padding >= 0, op, ": padding must be >= 0, got ", params.padding);
  ConvGeometry g{};
  g.N = x.size(0), g.C = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.K = weight.size(0), g.R = weight.size(2), g.S = weight.size(3);
  g.stride = params.stride, g.pad = params.padding;
  JOULE_CHECK(weight.size(1) == g.C, op, ": weight ", weight.describe(), " has ", weight.size(1),
              " in-channels, expected C = ", g.C, " from x ", x.describe());
  JOULE_CHECK(g.R >= 1 && g.S >= 1 && g.R <= g.H + 2 * g.pad && g.S <= g.W + 2 * g.pad, op, ": weight kernel ", g.R,
              "x", g.S, " does not fit the padded input ", g.H + 2 * g.pad, "x", g.W + 2 * g.pad, " (x ", x.describe(),
              ", padding ", g.pad, ")");
  g.P = (g.H + 2 * g.pad - g.R) / g.stride + 1;
  g.Q = (g.W + 2 * g.pad - g.S) / g.stride + 1;
  return g;
}

// dst[i] = src[i] (Add: dst[i] += src[i]) for i < n. im2col/col2im move rows of Q or W floats
// (14 and 28 in our CNN); GCC leaves such short tails scalar, which made im2col cost a third of
// a GEMM, so with AVX-512 the tail is one masked load (masked lanes never fault). Overrun: the
// tail store writes all 16 lanes (a masked store is slow on Zen 4), clobbering up to 15 floats
// after dst + n; only for callers that write rows in increasing order into a buffer with
// `row_slack` floats to spare.
constexpr int64_t row_slack = 16;
enum class RowOp { copy, add, copy_overrun };

template <RowOp Op>
inline void row_op(float* dst, const float* src, int64_t n) {
#if defined(__AVX512F__)
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(src + i);
    if constexpr (Op == RowOp::add) v = _mm512_add_ps(v, _mm512_loadu_ps(dst + i));
    _mm512_storeu_ps(dst + i, v);
  }
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 v = _mm512_maskz_loadu_ps(mask, src + i);
    if constexpr (Op == RowOp::add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, dst + i));
    if constexpr (Op == RowOp::copy_overrun) {
      _mm512_storeu_ps(dst + i, v);
    } else {
      _mm512_mask_storeu_ps(dst + i, mask, v);
    }
  }
#else
  for (int64_t i = 0; i < n; ++i) dst[i] = Op == RowOp::add ? dst[i] + src[i] : src[i];
#endif
}

// Source rows of cols are read from a zero-padded copy of x_n ([C, Hp, Wp], Hp = H + 2*pad,
// Wp = W + 2*pad) when pad > 0, so the copy loops below need no bounds tests.
int64_t padded_size(const ConvGeometry& g) { return g.pad > 0 ? g.C * (g.H + 2 * g.pad) * (g.W + 2 * g.pad) : 0; }

// Calls row(in_offset, out_offset) for every row (c, r, s, p) of cols: the offset of its first source
// element in the padded plane stack (step `stride` along q) and its offset in cols (Q elements).
template <class RowFn>
void for_each_cols_row(const ConvGeometry& g, RowFn&& row) {
  const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad;
  int64_t out = 0;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < g.R; ++r)
      for (int64_t s = 0; s < g.S; ++s)
        for (int64_t p = 0; p < g.P; ++p, out += g.Q) row((c * Hp + p * g.stride + r) * Wp + s, out);
}

// cols[(c*R + r)*S + s][p*Q + q] = x_n[c][p*stride + r - pad][q*stride + s - pad], 0 in the padding.
// `padded` has padded_size(g) floats; cols has row_slack floats to spare after its D*PQ.
void im2col(const ConvGeometry& g, const float* x_n, float* padded, float* cols) {
  const float* src = x_n;
  if (g.pad > 0) {
    const int64_t Wp = g.W + 2 * g.pad;
    float* out = padded;
    for (int64_t c = 0; c < g.C; ++c) {
      std::fill(out, out + g.pad * Wp, 0.0f);
      out += g.pad * Wp;
      for (int64_t h = 0; h < g.H; ++h, out += Wp) {
        const float* in = x_n + (c * g.H + h) * g.W;
        for (int64_t j = 0; j < g.pad; ++j) out[j] = 0.0f, out[g.pad + g.W + j] = 0.0f;
        row_op<RowOp::copy>(out + g.pad, in, g.W);
      }
      std::fill(out, out + g.pad * Wp, 0.0f);
      out += g.pad * Wp;
    }
    src = padded;
  }
  const int64_t Q = g.Q, stride = g.stride;
  for_each_cols_row(g, [&](int64_t in, int64_t out) {
    if (stride == 1) {
      row_op<RowOp::copy_overrun>(cols + out, src + in, Q);
    } else {
      for (int64_t q = 0; q < Q; ++q) cols[out + q] = src[in + q * stride];
    }
  });
}

// dx_n = the sum of dcols entries back onto the input positions they were copied from (overwrites
// dx_n). `padded` has padded_size(g) floats and accumulates the padded gradient when pad > 0.
void col2im(const ConvGeometry& g, const float* dcols, float* padded, float* dx_n) {
  float* dst = g.pad > 0 ? padded : dx_n;
  std::fill(dst, dst + (g.pad > 0 ? padded_size(g) : g.C * g.H * g.W), 0.0f);
  const int64_t Q = g.Q, stride = g.stride;
  for_each_cols_row(g, [&](int64_t in, int64_t out) {
    if (stride == 1) {
      row_op<RowOp::add>(dst + in, dcols + out, Q);
    } else {
      for (int64_t q = 0; q < Q; ++q) dst[in + q * stride] += dcols[out + q];
    }
  });
  if (g.pad == 0) return;
  const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t h = 0; h < g.H; ++h) {
      const float* in = padded + (c * Hp + h + g.pad) * Wp + g.pad;
      row_op<RowOp::copy>(dx_n + (c * g.H + h) * g.W, in, g.W);
    }
}

// out[cols, rows] = in[rows, cols]^T, writing out in order (measured faster than 16x16 blocks
// for the [K, P*Q] slices transposed here).
void transpose(const float* in, float* out, int64_t rows, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r) out[c * rows + r] = in[r * cols + c];
}

// Threads for a batch split: at most one per sample, and one for tiny problems, where waking a
// second thread costs more than it saves.
int batch_threads(const Context& ctx, const ConvGeometry& g) {
  if (g.N * g.K * g.pixels() * g.depth() < (int64_t{1} << 18)) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(ctx.num_threads, g.N)));
}

// dweight^T += cols * dy_n^T: small_gemm needs dy_n^T as a copy, which only pays off for a deep
// cols (conv2 of our CNN: C*R*S = 288, 10% faster); below this depth Eigen multiplies by the
// transposed view directly (conv1: C*R*S = 9, where the copy cost twice the product).
constexpr int64_t transpose_depth = 64;

int64_t round_up(int64_t floats) { return (floats + 15) / 16 * 16; }  // to 64 bytes: no shared cache lines

// Runs body(thread, begin, end) on contiguous chunks of [0, n), one per thread; `threads` == 1
// runs it on the caller. body must not throw.
template <class Body>
void parallel_chunks(int threads, int64_t n, Body&& body) {
  if (threads <= 1) {
    body(0, int64_t{0}, n);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), used = omp_get_num_threads();
    body(t, n * t / used, n * (t + 1) / used);
  }
#else
  body(0, int64_t{0}, n);
#endif
}

}  // namespace

void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dParams& params) {
  if (!ctx.device.is_cpu()) return gpu_ops(ctx, "conv2d_forward").conv2d_forward(ctx, y, x, weight, bias, params);
  const char* op = "conv2d_forward";
  const ConvGeometry g = check_conv(op, x, weight, params);
  if (bias.defined()) {
    check_cpu_tensor(bias, op, "bias", 1);
    JOULE_CHECK(bias.size(0) == g.K, op, ": bias ", bias.describe(), " must have K = ", g.K, " elements (weight ",
                weight.describe(), ")");
  }
  ensure_tensor(ctx, y, {g.N, g.K, g.P, g.Q}, DType::f32);
  if (runs_bf16(ctx, g))
    return bf16_conv(ctx).forward(g, x.data<float>(), weight.data<float>(),
                                  bias.defined() ? bias.data<float>() : nullptr, y.data<float>());
  const int64_t D = g.depth(), PQ = g.pixels(), CHW = g.C * g.H * g.W;
  const int threads = batch_threads(ctx, g);
  // per thread: [padded x | cols + slack], unless cols is x_n itself
  const int64_t per_thread = g.identity_cols() ? 0 : round_up(padded_size(g) + D * PQ + row_slack);
  Tensor workspace = Tensor::empty({std::max<int64_t>(threads * per_thread, 1)});
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* yp = y.data<float>();
  float* wsp = workspace.data<float>();

  parallel_chunks(threads, g.N, [&](int t, int64_t begin, int64_t end) {
    float* padded = wsp + t * per_thread;
    float* scratch_cols = padded + padded_size(g);
    for (int64_t n = begin; n < end; ++n) {
      const float* x_n = xp + n * CHW;
      const float* cols = x_n;
      if (!g.identity_cols()) {
        im2col(g, x_n, padded, scratch_cols);
        cols = scratch_cols;
      }
      small_gemm(wp, cols, yp + n * g.K * PQ, bp, g.K, D, PQ, false);
    }
  });
}

void conv2d_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, const Conv2dParams& params, GradMode mode) {
  if (!ctx.device.is_cpu())
    return gpu_ops(ctx, "conv2d_backward").conv2d_backward(ctx, dx, dweight, dbias, dy, x, weight, params, mode);
  const char* op = "conv2d_backward";
  const ConvGeometry g = check_conv(op, x, weight, params);
  check_cpu_tensor(dy, op, "dy", 4);
  const Shape y_shape{g.N, g.K, g.P, g.Q};
  JOULE_CHECK(dy.shape() == y_shape, op, ": dy ", dy.describe(), " must have shape ", shape_str(y_shape), " (x ",
              x.describe(), ", weight ", weight.describe(), ")");
  check_cpu_tensor(dweight, op, "dweight", 4);
  JOULE_CHECK(dweight.shape() == weight.shape(), op, ": dweight ", dweight.describe(), " must have shape ",
              shape_str(weight.shape()), " of weight");
  if (dbias) {
    check_cpu_tensor(*dbias, op, "dbias", 1);
    JOULE_CHECK(dbias->size(0) == g.K, op, ": dbias ", dbias->describe(), " must have K = ", g.K, " elements");
  }
  if (dx) ensure_tensor(ctx, *dx, x.shape(), DType::f32);
  if (runs_bf16(ctx, g))
    return bf16_conv(ctx).backward(g, x.data<float>(), weight.data<float>(), dy.data<float>(),
                                   dx ? dx->data<float>() : nullptr, dweight.data<float>(),
                                   dbias ? dbias->data<float>() : nullptr, mode == GradMode::accumulate);

  const int64_t D = g.depth(), PQ = g.pixels(), KD = g.K * D, CHW = g.C * g.H * g.W;
  const int threads = batch_threads(ctx, g);
  const int64_t cols_size = g.identity_cols() ? 0 : padded_size(g) + D * PQ + row_slack;
  // shared: weight^T [D, K]; per thread: [dweight^T partial D*K | dbias partial K | dy_n^T PQ*K |
  // padded x or dx | cols + slack | dcols D*PQ]
  const int64_t per_thread = round_up(KD + g.K + PQ * g.K + cols_size + (dx ? D * PQ : 0));
  Tensor workspace = Tensor::empty({round_up(KD) + threads * per_thread});
  const float* xp = x.data<float>();
  const float* dyp = dy.data<float>();
  float* dxp = dx ? dx->data<float>() : nullptr;
  float* weight_t = workspace.data<float>();
  float* partials = weight_t + round_up(KD);
  if (dxp) transpose(weight.data<float>(), weight_t, g.K, D);

  parallel_chunks(threads, g.N, [&](int t, int64_t begin, int64_t end) {
    float* dw_part = partials + t * per_thread;  // dweight^T [D, K]
    float* db_part = dw_part + KD;
    float* dy_t = db_part + g.K;
    float* padded = dy_t + PQ * g.K;
    float* scratch_cols = padded + padded_size(g);
    float* dcols = padded + cols_size;
    std::fill(dw_part, dy_t, 0.0f);
    for (int64_t n = begin; n < end; ++n) {
      const float* x_n = xp + n * CHW;
      const float* dy_n = dyp + n * g.K * PQ;
      const float* cols = x_n;
      if (!g.identity_cols()) {
        im2col(g, x_n, padded, scratch_cols);
        cols = scratch_cols;
      }
      if (D >= transpose_depth) {
        transpose(dy_n, dy_t, g.K, PQ);
        small_gemm(cols, dy_t, dw_part, nullptr, D, PQ, g.K, true);
      } else {
        MapR(dw_part, D, g.K).noalias() += ConstMapR(cols, D, PQ) * ConstMapR(dy_n, g.K, PQ).transpose();
      }
      if (dbias)
        for (int64_t k = 0; k < g.K; ++k)  // Eigen's sum is vectorized (a plain loop is one long chain)
          db_part[k] += Eigen::Map<const Eigen::ArrayXf>(dy_n + k * PQ, PQ).sum();
      if (!dxp) continue;
      float* dx_n = dxp + n * CHW;
      if (g.identity_cols()) {  // dx_n[C, H*W] = weight^T * dy_n directly
        small_gemm(weight_t, dy_n, dx_n, nullptr, D, g.K, PQ, false);
        continue;
      }
      small_gemm(weight_t, dy_n, dcols, nullptr, D, g.K, PQ, false);
      col2im(g, dcols, padded, dx_n);
    }
  });

  // reduce the partials in thread order, transposing dweight^T [D, K] back to [K, D]
  float* dwp = dweight.data<float>();
  float* dbp = dbias ? dbias->data<float>() : nullptr;
  const bool accumulate = mode == GradMode::accumulate;
  for (int64_t k = 0; k < g.K; ++k)
    for (int64_t d = 0; d < D; ++d) {
      float sum = accumulate ? dwp[k * D + d] : 0.0f;
      for (int t = 0; t < threads; ++t) sum += partials[t * per_thread + d * g.K + k];
      dwp[k * D + d] = sum;
    }
  for (int64_t k = 0; dbp && k < g.K; ++k) {
    float sum = accumulate ? dbp[k] : 0.0f;
    for (int t = 0; t < threads; ++t) sum += partials[t * per_thread + KD + k];
    dbp[k] = sum;
  }
}

}  // namespace joule
