// 2-D max pooling over square windows, NCHW, no padding (the window always lies inside the input).
//
// Dimension letters: N batch, C channels, H W input height and width, P Q output height and width,
//   P = (H - kernel) / stride + 1,   Q = (W - kernel) / stride + 1.
//   y[n, c, p, q] = max_{i, j < kernel} x[n, c, p*stride + i, q*stride + j]
// The forward pass saves, per output, the flat index (ih * W + iw) of the chosen input element
// within its (H, W) plane; the backward pass routes each dy to that element (and sums where
// overlapping windows chose the same element). On ties the first maximum in row-major window
// order wins; a NaN in a window wins over numbers (it propagates, as in PyTorch).
// Only f32 (and i32 argmax) on the CPU is implemented; other dtypes and devices are rejected.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

// x f32 [N, C, H, W] -> y f32 [N, C, P, Q] and argmax i32 [N, C, P, Q] (both allocated unless they
// already have that shape). kernel >= 1 with kernel <= H and kernel <= W; stride >= 1.
void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int kernel, int stride);

// dy f32 [N, C, P, Q] and argmax i32 [N, C, P, Q] from the forward pass; x_shape is the forward
// input's [N, C, H, W]. dx becomes f32 x_shape (allocated unless it already is), always overwritten.
void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, const Shape& x_shape);

}  // namespace joule
