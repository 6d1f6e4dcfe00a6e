#include "ops/mlp.h"

#include <cmath>

#include "ops/dropout.h"
#include "ops/gelu.h"
#include "ops/layernorm.h"
#include "ops/linear.h"
#include "ops/relu.h"

namespace joule {

Mlp::Mlp(const pb::MlpConfig& config, const InputShape& input, Context& ctx) : config_(config), input_(input) {
  int64_t width = input.channels * input.height * input.width;
  std::vector<int64_t> fan_in;
  for (int i = 0; i < config.hidden_size(); ++i) {
    Hidden h;
    const std::string prefix = "hidden" + std::to_string(i);
    h.weight = arena_.add(prefix + ".weight", {config.hidden(i), width});
    h.bias = arena_.add(prefix + ".bias", {config.hidden(i)});
    if (config.layernorm()) {
      h.gamma = arena_.add(prefix + ".norm.gamma", {config.hidden(i)});
      h.beta = arena_.add(prefix + ".norm.beta", {config.hidden(i)});
    }
    fan_in.push_back(width);
    width = config.hidden(i);
    hidden_.push_back(std::move(h));
  }
  out_weight_ = arena_.add("out.weight", {input.classes, width});
  out_bias_ = arena_.add("out.bias", {input.classes});
  arena_.allocate(ctx);

  for (size_t i = 0; i < hidden_.size(); ++i) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in[i]));
    init_uniform(ctx, arena_, hidden_[i].weight, bound, ctx.seed);
    init_uniform(ctx, arena_, hidden_[i].bias, bound, ctx.seed);
    if (hidden_[i].gamma >= 0) {
      init_constant(ctx, arena_, hidden_[i].gamma, 1.0f);
      init_constant(ctx, arena_, hidden_[i].beta, 0.0f);
    }
  }
  const float bound = 1.0f / std::sqrt(static_cast<float>(width));
  init_uniform(ctx, arena_, out_weight_, bound, ctx.seed);
  init_uniform(ctx, arena_, out_bias_, bound, ctx.seed);
}

const Tensor& Mlp::forward(Context& ctx, const Tensor& images, bool training) {
  Tensor h = images.reshape({images.size(0), -1});
  for (size_t i = 0; i < hidden_.size(); ++i) {
    Hidden& l = hidden_[i];
    l.input = h;
    linear_forward(ctx, l.linear_out, h, arena_.value(l.weight), arena_.value(l.bias));
    Tensor t = l.linear_out;
    if (l.gamma >= 0) {
      layernorm_forward(ctx, l.norm_out, l.mean, l.rstd, t, arena_.value(l.gamma), arena_.value(l.beta));
      t = l.norm_out;
    }
    if (config_.activation() == pb::gelu) {
      gelu_forward(ctx, l.act_out, t);
    } else {
      relu_forward(ctx, l.act_out, t);
    }
    t = l.act_out;
    if (config_.dropout() > 0) {
      dropout_forward(ctx, l.drop_out, l.mask, t, config_.dropout(), static_cast<uint32_t>(i), training);
      t = l.drop_out;
    }
    h = t;
  }
  out_input_ = h;
  linear_forward(ctx, logits_, h, arena_.value(out_weight_), arena_.value(out_bias_));
  return logits_;
}

void Mlp::backward(Context& ctx, const Tensor& dlogits, GradMode mode, const GradReadyFn& on_ready) {
  auto ready = [&](int id) {
    if (on_ready) on_ready(id);
  };
  Tensor out_weight_grad = arena_.grad(out_weight_), out_bias_grad = arena_.grad(out_bias_);
  linear_backward(ctx, hidden_.empty() ? nullptr : &d_hidden_out_, out_weight_grad, &out_bias_grad, dlogits,
                  out_input_, arena_.value(out_weight_), mode);
  ready(out_bias_);
  ready(out_weight_);
  Tensor* dh = &d_hidden_out_;  // gradient w.r.t. the output of the current hidden layer
  for (size_t k = hidden_.size(); k-- > 0;) {
    Hidden& l = hidden_[k];
    if (config_.dropout() > 0) {
      dropout_backward(ctx, l.d_act, *dh, l.mask, config_.dropout());
      dh = &l.d_act;
    }
    // activation backward, written in place into the gradient buffer of the pre-activation
    Tensor& pre_act = l.gamma >= 0 ? l.norm_out : l.linear_out;
    if (config_.activation() == pb::gelu) {
      gelu_backward(ctx, l.d_linear, *dh, pre_act);
    } else {
      relu_backward(ctx, l.d_linear, *dh, l.act_out);
    }
    Tensor* d_pre_linear = &l.d_linear;
    if (l.gamma >= 0) {
      Tensor dgamma = arena_.grad(l.gamma), dbeta = arena_.grad(l.beta);
      layernorm_backward(ctx, l.d_norm, dgamma, dbeta, l.d_linear, l.linear_out, arena_.value(l.gamma), l.mean, l.rstd,
                         mode);
      ready(l.beta);
      ready(l.gamma);
      d_pre_linear = &l.d_norm;
    }
    Tensor dweight = arena_.grad(l.weight), dbias = arena_.grad(l.bias);
    // d_hidden_out_ is free again here: this layer consumed it before its linear backward
    Tensor* dx = k == 0 ? nullptr : &d_hidden_out_;
    linear_backward(ctx, dx, dweight, &dbias, *d_pre_linear, l.input, arena_.value(l.weight), mode);
    ready(l.bias);
    ready(l.weight);
    dh = dx;
  }
}

std::string Mlp::describe() const {
  std::string shape = std::to_string(input_.channels * input_.height * input_.width);
  for (int h : config_.hidden()) shape += "-" + std::to_string(h);
  shape += "-" + std::to_string(input_.classes);
  return std::string("mlp ") + shape + " " + (config_.activation() == pb::gelu ? "gelu" : "relu") +
         (config_.layernorm() ? " layernorm" : "") +
         (config_.dropout() > 0 ? " dropout " + std::to_string(config_.dropout()) : "") + " (" +
         std::to_string(arena_.parameter_elements()) + " parameters)";
}

}  // namespace joule
