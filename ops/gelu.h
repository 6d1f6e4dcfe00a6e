// GELU, tanh approximation (PyTorch's approximate="tanh", GPT-2's "gelu_new"):
//   y = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
// elementwise over a tensor of any shape.
//
// Only f32 on the CPU is implemented here; other dtypes and devices are rejected with an
// invalid_input error naming the argument.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

// x f32 [any shape] → y f32 [same shape] (allocated or reused with ensure_tensor).
void gelu_forward(Context& ctx, Tensor& y, const Tensor& x);

// dx = dy · gelu'(x), from the forward *input* x. dx may be the same tensor as dy (in place).
void gelu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x);

}  // namespace joule
