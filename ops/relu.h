// ReLU: y = max(x, 0), elementwise over a tensor of any shape.
//
// Only f32 on the CPU is implemented here; other dtypes and devices are rejected with an
// invalid_input error naming the argument.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

// x f32 [any shape] → y f32 [same shape] (allocated or reused with ensure_tensor; may be x itself).
void relu_forward(Context& ctx, Tensor& y, const Tensor& x);

// dx = dy where y > 0, else 0. Uses the forward *output* y (so x need not be kept); the gradient at
// exactly 0 is 0, as in PyTorch. dx may be the same tensor as dy (in place).
void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);

}  // namespace joule
