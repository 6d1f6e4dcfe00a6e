// SGD with momentum, fused over flat f32 arrays (a ParameterArena's values() and grads()).
// Semantics of torch.optim.SGD with dampening 0, per element:
//   g = grad + weight_decay * p
//   buf = momentum * buf + g                (buf starts at zero: PyTorch's first step sets buf = g)
//   g = nesterov ? g + momentum * buf : buf (momentum 0: g unchanged, no buffer needed)
//   p -= lr * g
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

struct SgdOptions {
  float momentum = 0.9f;  // >= 0
  bool nesterov = false;  // needs momentum > 0
  float weight_decay = 0.0f;  // L2 penalty folded into the gradient (coupled, unlike AdamW)
};

// params, grads: f32, same shape (typically [P]), on ctx.device. momentum_buffer: same shape, zeroed
// before the first step; an undefined tensor is allocated as zeros here. Unused when momentum == 0.
// lr: learning rate of this step (>= 0).
void sgd_step(Context& ctx, Tensor& params, Tensor& momentum_buffer, const Tensor& grads, const SgdOptions& options,
              float lr);

}  // namespace joule
