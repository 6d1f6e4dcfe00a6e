#include "ops/cnn.h"

#include <cmath>

#include "ops/conv2d.h"
#include "ops/dropout.h"
#include "ops/flatten.h"
#include "ops/linear.h"
#include "ops/maxpool2d.h"
#include "ops/relu.h"

namespace joule {

Cnn::Cnn(const pb::CnnConfig& config, const InputShape& input, Context& ctx) : config_(config), input_(input) {
  const int k = config.kernel_size();
  int64_t channels = input.channels, height = input.height, width = input.width;
  std::vector<float> bounds;
  for (int i = 0; i < config.channels_size(); ++i) {
    height /= 2;
    width /= 2;
    JOULE_CHECK(height >= 1 && width >= 1, "model.cnn.channels: ", config.channels_size(), " pooling blocks shrink ",
                input.height, "x", input.width, " images to nothing; at most ", i, " fit");
    Block b;
    const std::string prefix = "conv" + std::to_string(i);
    b.weight = arena_.add(prefix + ".weight", {config.channels(i), channels, k, k});
    b.bias = arena_.add(prefix + ".bias", {config.channels(i)});
    bounds.push_back(1.0f / std::sqrt(static_cast<float>(channels * k * k)));
    channels = config.channels(i);
    blocks_.push_back(std::move(b));
  }
  int64_t features = channels * height * width;
  for (int i = 0; i <= config.hidden_size(); ++i) {
    const bool last = i == config.hidden_size();
    const int64_t out = last ? input.classes : config.hidden(i);
    Dense d;
    const std::string prefix = last ? std::string("out") : "fc" + std::to_string(i);
    d.weight = arena_.add(prefix + ".weight", {out, features});
    d.bias = arena_.add(prefix + ".bias", {out});
    d.relu = !last;
    d.dropout = i > 0 ? config.dropout() : 0.0f;
    bounds.push_back(1.0f / std::sqrt(static_cast<float>(features)));
    features = out;
    dense_.push_back(std::move(d));
  }
  arena_.allocate(ctx);
  size_t next = 0;
  for (Block& b : blocks_) {
    init_uniform(ctx, arena_, b.weight, bounds[next], ctx.seed);
    init_uniform(ctx, arena_, b.bias, bounds[next++], ctx.seed);
  }
  for (Dense& d : dense_) {
    init_uniform(ctx, arena_, d.weight, bounds[next], ctx.seed);
    init_uniform(ctx, arena_, d.bias, bounds[next++], ctx.seed);
  }
}

const Tensor& Cnn::forward(Context& ctx, const Tensor& images, bool training) {
  const Conv2dParams conv{1, config_.kernel_size() / 2};
  Tensor x = images;
  for (Block& b : blocks_) {
    b.input = x;
    conv2d_forward(ctx, b.conv_out, x, arena_.value(b.weight), arena_.value(b.bias), conv);
    relu_forward(ctx, b.relu_out, b.conv_out);
    maxpool2d_forward(ctx, b.pool_out, b.argmax, b.relu_out, 2, 2);
    x = b.pool_out;
  }
  flat_from_ = x.shape();
  Tensor h;
  flatten_forward(ctx, h, x);
  for (size_t i = 0; i < dense_.size(); ++i) {
    Dense& d = dense_[i];
    if (d.dropout > 0) {
      dropout_forward(ctx, d.drop_out, d.mask, h, d.dropout, static_cast<uint32_t>(i), training);
      h = d.drop_out;
    }
    d.input = h;
    linear_forward(ctx, d.linear_out, h, arena_.value(d.weight), arena_.value(d.bias));
    if (d.relu) {
      relu_forward(ctx, d.relu_out, d.linear_out);
      h = d.relu_out;
    } else {
      h = d.linear_out;
    }
  }
  return dense_.back().linear_out;
}

void Cnn::backward(Context& ctx, const Tensor& dlogits, GradMode mode, const GradReadyFn& on_ready) {
  auto ready = [&](int id) {
    if (on_ready) on_ready(id);
  };
  Tensor dh = dlogits;  // gradient w.r.t. the output of the current dense layer (after its ReLU)
  for (size_t i = dense_.size(); i-- > 0;) {
    Dense& d = dense_[i];
    Tensor dlin = dh;
    if (d.relu) {
      relu_backward(ctx, d.d_linear, dh, d.relu_out);
      dlin = d.d_linear;
    }
    Tensor dweight = arena_.grad(d.weight), dbias = arena_.grad(d.bias);
    linear_backward(ctx, &d.d_out, dweight, &dbias, dlin, d.input, arena_.value(d.weight), mode);
    ready(d.bias);
    ready(d.weight);
    dh = d.d_out;
    if (d.dropout > 0) {
      dropout_backward(ctx, d.d_drop, dh, d.mask, d.dropout);
      dh = d.d_drop;
    }
  }
  Tensor dpool;
  flatten_backward(ctx, dpool, dh, flat_from_);
  for (size_t i = blocks_.size(); i-- > 0;) {
    Block& b = blocks_[i];
    maxpool2d_backward(ctx, b.d_relu, dpool, b.argmax, b.relu_out.shape());
    relu_backward(ctx, b.d_relu, b.d_relu, b.relu_out);  // in place
    Tensor dweight = arena_.grad(b.weight), dbias = arena_.grad(b.bias);
    const Conv2dParams conv{1, config_.kernel_size() / 2};
    conv2d_backward(ctx, i == 0 ? nullptr : &b.d_conv, dweight, &dbias, b.d_relu, b.input, arena_.value(b.weight), conv,
                    mode);
    ready(b.bias);
    ready(b.weight);
    dpool = b.d_conv;
  }
}

std::string Cnn::describe() const {
  std::string shape;
  for (int c : config_.channels()) shape += "conv" + std::to_string(c) + "-pool-";
  for (int h : config_.hidden()) shape += "fc" + std::to_string(h) + "-";
  shape += "fc" + std::to_string(input_.classes);
  return "cnn " + shape + " (" + std::to_string(arena_.parameter_elements()) + " parameters)";
}

}  // namespace joule
