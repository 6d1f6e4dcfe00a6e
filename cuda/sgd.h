// SGD on the GPU over the flat parameter arena (ops/sgd.h is the contract and the CPU reference):
// one fused kernel for the whole arena (parameters, momentum and gradients f32), no per-tensor
// launches. Each element follows the CPU's formula with the same rounding (no fused multiply-adds:
// __fmul_rn/__fadd_rn), so GPU and CPU updates agree bit for bit.
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/sgd.h"

namespace joule::cuda {

void sgd_step(Context& ctx, Tensor& params, Tensor& momentum_buffer, const Tensor& grads, const SgdOptions& options,
              float lr);

}  // namespace joule::cuda
