// AdamW (decoupled weight decay), fused over flat f32 arrays (a ParameterArena's values() and
// grads()). Semantics of torch.optim.AdamW (amsgrad off), per element, at 1-based step t:
//   p *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

struct AdamWOptions {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.01f;
};

// params, grads: f32, same shape (typically [P]), on ctx.device. m, v: first and second moment
// estimates of the same shape, zeroed before step 1; undefined tensors are allocated as zeros here.
// lr: learning rate of this step (>= 0). step: 1-based count of updates including this one.
void adamw_step(Context& ctx, Tensor& params, Tensor& m, Tensor& v, const Tensor& grads, const AdamWOptions& options,
                float lr, int64_t step);

}  // namespace joule
