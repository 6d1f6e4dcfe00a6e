// ReLU on the GPU (ops/relu.h is the contract and the CPU reference): f32 or bf16 tensors on the
// context's device, one elementwise kernel each way on the context's stream. The same NaN rule as
// the CPU: y = x < 0 ? 0 : x (NaN propagates); dx = y > 0 ? dy : 0.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule::cuda {

void relu_forward(Context& ctx, Tensor& y, const Tensor& x);
void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);

}  // namespace joule::cuda
