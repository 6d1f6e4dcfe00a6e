// Layer normalization over the last dimension (as torch.nn.LayerNorm(D)):
//   y[n, :] = (x[n, :] − mean[n]) · rstd[n] · gamma + beta,  rstd[n] = 1 / √(var[n] + eps)
// with the biased variance (divided by D). mean and rstd are saved for the backward pass.
//
// Dimension letters: N rows (batch × positions, flattened by the caller), D normalized features.
// Only f32 on the CPU is implemented here; other dtypes and devices are rejected with an
// invalid_input error naming the argument.
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/parameters.h"

namespace joule {

// x f32 [N, D], gamma f32 [D], beta f32 [D]
// → y f32 [N, D], mean f32 [N], rstd f32 [N] (each allocated or reused with ensure_tensor).
void layernorm_forward(Context& ctx, Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, float eps = 1e-5f);

// dy f32 [N, D]; x, gamma, mean, rstd as in (and from) the forward pass.
//   dx     f32 [N, D], allocated or reused with ensure_tensor and overwritten; may be dy itself.
//   dgamma f32 [D] += or = Σ_n dy[n, :] · x̂[n, :], an already-allocated view (arena slot), per `mode`.
//   dbeta  f32 [D] += or = Σ_n dy[n, :], likewise.
void layernorm_backward(Context& ctx, Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& x,
                        const Tensor& gamma, const Tensor& mean, const Tensor& rstd, GradMode mode);

}  // namespace joule
