// Flatten: [N, ...] → [N, prod(...)] (as torch.nn.Flatten()), between convolutional and linear
// layers. Both directions are views sharing storage: no data moves.
//
// Dimension letters: N rows (batch); F = prod(...) features per row (1 for a 1-D input).
// Being metadata only, it accepts any dtype and any device.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

// x [N, ...] (at least 1 dim) → y [N, F], a view of x's storage.
void flatten_forward(Context& ctx, Tensor& y, const Tensor& x);

// dy [N, F] → dx of shape x_shape (the forward input's shape), a view of dy's storage.
void flatten_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Shape& x_shape);

}  // namespace joule
