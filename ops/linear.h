// Linear (fully connected) layer: y = x · weightᵀ + bias, weight in PyTorch's [OUT, IN] layout so
// checkpoints and reference values carry over unchanged.
//
// Dimension letters: N rows (batch), IN input features, OUT output features.
// Only f32 on the CPU is implemented here (Eigen GEMMs, threaded through OpenMP by ctx.num_threads);
// other dtypes and devices are rejected with an invalid_input error naming the argument.
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/parameters.h"

namespace joule {

// x f32 [N, IN], weight f32 [OUT, IN], bias f32 [OUT] or an undefined Tensor (no bias)
// → y f32 [N, OUT] (allocated or reused with ensure_tensor).
void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias);

// dy f32 [N, OUT], x f32 [N, IN] and weight f32 [OUT, IN] as in the forward pass.
//   dx      f32 [N, IN] = dy · weight; nullptr when no input gradient is wanted (first layer).
//           Allocated or reused with ensure_tensor and always overwritten.
//   dweight f32 [OUT, IN] += or = dyᵀ · x, an already-allocated view (arena slot), per `mode`.
//   dbias   f32 [OUT] += or = Σ_n dy[n, :], per `mode`; nullptr for a layer without bias.
void linear_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, GradMode mode);

}  // namespace joule
