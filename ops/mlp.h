// Multi-layer perceptron: flatten → [linear → (layernorm) → activation → (dropout)] × hidden → linear.
#pragma once

#include <vector>

#include "ops/model.h"

namespace joule {

class Mlp : public Model {
 public:
  Mlp(const pb::MlpConfig& config, const InputShape& input, Context& ctx);

  const Tensor& forward(Context& ctx, const Tensor& images, bool training) override;
  void backward(Context& ctx, const Tensor& dlogits, GradMode mode, const GradReadyFn& on_ready = {}) override;
  std::string describe() const override;
  const char* kind() const override { return "mlp"; }

 private:
  struct Hidden {
    int weight = -1, bias = -1, gamma = -1, beta = -1;
    Tensor input, linear_out, norm_out, mean, rstd, act_out, drop_out, mask;  // saved for backward
    Tensor d_act, d_linear, d_norm;                                          // gradient buffers
  };
  pb::MlpConfig config_;
  InputShape input_;
  std::vector<Hidden> hidden_;
  int out_weight_ = -1, out_bias_ = -1;
  Tensor out_input_, logits_, d_hidden_out_;
};

}  // namespace joule
