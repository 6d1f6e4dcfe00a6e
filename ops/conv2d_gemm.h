// Internal to ops/conv2d*.cpp: the convolution's geometry (letters as in conv2d.h), and conv2d lowered
// to whole-batch GEMMs through gemm_f32 — the path taken at compute precision bf16 (core/gemm.h),
// where one large product per pass feeds oneDNN's bf16 matmul; the f32 path keeps its per-sample
// small_gemm kernels (conv2d.cpp), so switching back to f32 gives f32's results exactly.
//
// Lowering with the batch folded into the columns, so that no copy transposes anything (im2col and
// col2im move rows of Q floats, the layout changes runs of P*Q): L = N*P*Q columns, column
// n*P*Q + p*Q + q; rows d = (c*R + r)*S + s:
//   cols[D, L] (im2col of every sample), y'[K, L] = weight[K, D] · cols        → y (NCHW) + bias
//   dy'[K, L] (dy regrouped), dweight[K, D] (+)= dy' · colsᵀ, dbias = row sums of dy'
//   dcols[D, L] = weightᵀ · dy'                                                → dx (col2im)
// All pointers are contiguous f32 arrays of the shapes conv2d.h states; buffers are per call.
// Shallow convolutions (C*R*S < bf16_min_depth, like a first layer on grey images: 1*3*3 = 9) stay on
// the f32 path at bf16 too: AMX multiplies bf16 in blocks 32 deep, so a 9-deep product pays for 32
// and measured slower than the f32 kernel.
#pragma once

#include <cstdint>

#include "core/context.h"

namespace joule::detail {

constexpr int64_t bf16_min_depth = 32;

struct ConvGeometry {
  int64_t N, C, H, W, K, R, S, P, Q, stride, pad;
  int64_t depth() const { return C * R * S; }
  int64_t pixels() const { return P * Q; }
  // a 1x1 convolution without stride or padding needs no im2col: cols is x_n itself
  bool identity_cols() const { return R == 1 && S == 1 && stride == 1 && pad == 0; }
};

// y[N, K, P, Q] = conv(x, weight) + bias (bias may be nullptr).
void conv2d_forward_gemm(Context& ctx, const ConvGeometry& g, float* y, const float* x, const float* weight,
                         const float* bias);
// dweight (+)= ..., dbias (+)= ... (accumulate: add to the present values); dx = ... (dx, dbias may be nullptr).
void conv2d_backward_gemm(Context& ctx, const ConvGeometry& g, float* dx, float* dweight, float* dbias,
                          const float* dy, const float* x, const float* weight, bool accumulate);

}  // namespace joule::detail
