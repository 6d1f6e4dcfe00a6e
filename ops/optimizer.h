// Optimizer: SGD (momentum, Nesterov, L2) or AdamW over a model's flat parameter arena, as the
// config's train.optimizer section describes. Its state tensors (sgd: momentum; adamw: m, v) are
// exposed by name for checkpoints; they keep their values across knob changes (batch size,
// precision): master weights and optimizer state are fp32 whatever the compute precision.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/context.h"
#include "core/proto/config.pb.h"
#include "core/tensor.h"
#include "ops/parameters.h"

namespace joule {

class Optimizer {
 public:
  // `arena` must be allocated and outlive the optimizer; the state lives on the context's device.
  Optimizer(const Context& ctx, const pb::OptimizerConfig& config, ParameterArena& arena);

  float base_lr() const;  // the configured lr (sgd.lr or adamw.lr)
  // One update of every parameter from the arena's gradients; step_1based counts updates applied
  // (AdamW's bias correction).
  void step(Context& ctx, float lr, int64_t step_1based);
  // Named state tensors, f32 [arena elements] each: {"momentum"} or {"adam_m", "adam_v"}.
  std::vector<std::pair<std::string, Tensor*>> state();

 private:
  pb::OptimizerConfig config_;
  ParameterArena& arena_;
  Tensor state_a_, state_b_;  // sgd: momentum; adamw: m, v
};

}  // namespace joule
