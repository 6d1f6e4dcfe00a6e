// 2-D max pooling on the GPU (ops/maxpool2d.h is the contract and the CPU reference): the same
// argmax (flat index in the input plane), the same tie rule (the first maximum in row-major window
// order) and NaN propagation, so results and routed gradients match the CPU exactly. Own kernels:
// forward one thread per output; backward one thread per (n, c) plane adding each output's dy at its
// argmax in output order, as the CPU does (no atomics: deterministic).
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule::cuda {

// x f32 or bf16 [N, C, H, W] → y (x's dtype) [N, C, P, Q], argmax i32 [N, C, P, Q].
void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int kernel, int stride);
// dx (dy's dtype) x_shape, overwritten.
void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, const Shape& x_shape);

}  // namespace joule::cuda
