// 2-D convolution (cross-correlation, as in PyTorch), NCHW, square stride and zero padding.
//
// Dimension letters (used throughout ops/conv2d.*): N batch, C in-channels, H W input height and
// width, K out-channels, R S kernel height and width, P Q output height and width, with
//   P = (H + 2*padding - R) / stride + 1,   Q = (W + 2*padding - S) / stride + 1.
//   y[n, k, p, q] = bias[k] + sum_{c, r, s} weight[k, c, r, s] * x[n, c, p*stride + r - padding,
//                                                                     q*stride + s - padding]
// (x reads as 0 outside [0, H) x [0, W)).
//
// CPU reference: im2col + a small register-tiled GEMM per sample, parallel over the batch
// (ctx.num_threads threads; problems under ~2^18 multiply-adds run on one).
// Only f32 tensors on the CPU are implemented; other dtypes and devices are rejected with a clear message.
// At compute precision bf16 (ctx.precision) the products run in bf16 through oneDNN (core/conv_bf16.h).
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/parameters.h"

namespace joule {

struct Conv2dParams {
  int stride = 1;   // >= 1, the same along H and W
  int padding = 0;  // >= 0 zeros on every side
};

// x f32 [N, C, H, W], weight f32 [K, C, R, S] (PyTorch layout), bias f32 [K] or an undefined
// Tensor (no bias). y becomes f32 [N, K, P, Q] (allocated unless it already has that shape).
// The kernel must fit the padded input: R <= H + 2*padding and S <= W + 2*padding.
void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dParams& params);

// dy f32 [N, K, P, Q] is the gradient of the loss with respect to y; x and weight are the forward
// inputs. Writes
//   dx      (if not nullptr): f32 [N, C, H, W], always overwritten (allocated unless it already
//           has that shape). Pass nullptr where no input gradient is needed (the first layer):
//           that skips a third of the work.
//   dweight: an allocated f32 [K, C, R, S] (an arena slot), written per `mode`;
//   dbias   (if not nullptr): an allocated f32 [K], written per `mode`.
void conv2d_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, const Conv2dParams& params, GradMode mode);

}  // namespace joule
