// Convolutional network: [conv k×k (padding k/2) → ReLU → 2×2 max-pool] × blocks → flatten →
// [(dropout) → linear → ReLU] × hidden → linear.
#pragma once

#include <vector>

#include "ops/model.h"

namespace joule {

class Cnn : public Model {
 public:
  Cnn(const pb::CnnConfig& config, const InputShape& input, Context& ctx);

  const Tensor& forward(Context& ctx, const Tensor& images, bool training) override;
  void backward(Context& ctx, const Tensor& dlogits, GradMode mode, const GradReadyFn& on_ready = {}) override;
  std::string describe() const override;
  const char* kind() const override { return "cnn"; }

 private:
  struct Block {
    int weight = -1, bias = -1;
    Tensor input, conv_out, relu_out, pool_out, argmax;
    Tensor d_conv, d_relu;
  };
  struct Dense {
    int weight = -1, bias = -1;
    bool relu = true;
    float dropout = 0;
    Tensor input, drop_out, mask, linear_out, relu_out;
    Tensor d_out, d_linear, d_drop;
  };
  pb::CnnConfig config_;
  InputShape input_;
  std::vector<Block> blocks_;
  std::vector<Dense> dense_;
  Shape flat_from_;  // shape of the last pool output, for flatten backward
};

}  // namespace joule
