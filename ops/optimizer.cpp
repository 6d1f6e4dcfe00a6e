#include "ops/optimizer.h"

#include "ops/adamw.h"
#include "ops/sgd.h"

namespace joule {

Optimizer::Optimizer(const Context& ctx, const pb::OptimizerConfig& config, ParameterArena& arena)
    : config_(config), arena_(arena) {
  const int64_t n = arena.total_elements();
  state_a_ = zeros_tensor(ctx, {n});
  if (config.has_adamw()) state_b_ = zeros_tensor(ctx, {n});
}

float Optimizer::base_lr() const { return config_.has_adamw() ? config_.adamw().lr() : config_.sgd().lr(); }

void Optimizer::step(Context& ctx, float lr, int64_t step_1based) {
  Tensor params = arena_.values();
  const Tensor& grads = arena_.grads();
  if (config_.has_adamw()) {
    const pb::AdamWConfig& c = config_.adamw();
    adamw_step(ctx, params, state_a_, state_b_, grads, {c.beta1(), c.beta2(), c.eps(), c.weight_decay()}, lr,
               step_1based);
  } else {
    const pb::SgdConfig& c = config_.sgd();
    sgd_step(ctx, params, state_a_, grads, {c.momentum(), c.nesterov(), c.weight_decay()}, lr);
  }
}

std::vector<std::pair<std::string, Tensor*>> Optimizer::state() {
  if (config_.has_adamw()) return {{"adam_m", &state_a_}, {"adam_v", &state_b_}};
  return {{"momentum", &state_a_}};
}

}  // namespace joule
