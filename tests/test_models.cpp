// Whole-model gradient checks: the wiring of Mlp and Cnn (buffer reuse across layers, layernorm,
// gelu, dropout, conv/pool/flatten) through the shared finite-difference checker, on every
// parameter of small models; plus initialization bounds, determinism and accumulate mode.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/context.h"
#include "ops/model.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::check_gradients;
using testing::GradCheckInput;
using testing::random_tensor;

pb::ModelConfig parse_model(const std::string& kind) {
  pb::ModelConfig config;
  if (kind == "mlp") {
    pb::MlpConfig* mlp = config.mutable_mlp();
    mlp->add_hidden(8);
    mlp->add_hidden(6);
    mlp->set_activation(pb::gelu);
    mlp->set_layernorm(true);
    mlp->set_dropout(0.25f);
  } else {
    pb::CnnConfig* cnn = config.mutable_cnn();
    cnn->add_channels(2);
    cnn->add_channels(3);
    cnn->set_kernel_size(3);
    cnn->add_hidden(5);
    cnn->add_hidden(4);
    cnn->set_dropout(0.2f);
  }
  return config;
}

// Checks every parameter's gradient of L = sum(r * logits) against finite differences.
void check_model_gradients(const std::string& kind) {
  Context ctx = make_cpu_context(1, 5);
  ctx.step = 3;  // fixed: the dropout masks are the same in every forward call
  const InputShape shape{1, 8, 8, 3};
  std::unique_ptr<Model> model = make_model(parse_model(kind), shape, ctx);
  const Tensor images = random_tensor({4, 1, 8, 8}, 17, -1.5f, 1.5f);
  ParameterArena& arena = model->parameters();

  std::vector<Tensor> values;
  for (int id = 0; id < arena.count(); ++id) values.push_back(arena.value(id));
  std::vector<GradCheckInput> inputs;
  for (int id = 0; id < arena.count(); ++id) inputs.push_back({arena.name(id), &values[static_cast<size_t>(id)]});

  auto forward = [&] {
    Tensor logits = Tensor::empty({4, 3});
    logits.copy_from(model->forward(ctx, images, /*training=*/true));
    return logits;
  };
  auto backward = [&](const Tensor& dy) {
    model->forward(ctx, images, true);
    model->backward(ctx, dy, GradMode::overwrite);
    std::vector<Tensor> grads;
    for (int id = 0; id < arena.count(); ++id) {
      Tensor g = Tensor::empty(arena.grad(id).shape());
      g.copy_from(arena.grad(id));
      grads.push_back(g);
    }
    return grads;
  };
  testing::GradCheckOptions options;
  options.eps = 3e-3;  // smaller than the default: layernorm + gelu curve more over a 1e-2 step
  options.max_elements_per_input = 24;
  check_gradients(forward, backward, inputs, options);
}

TEST(Models, MlpWithLayerNormGeluDropoutGradientCheck) { check_model_gradients("mlp"); }

TEST(Models, CnnWithDropoutGradientCheck) { check_model_gradients("cnn"); }

TEST(Models, AccumulateModeAddsGradients) {
  for (const std::string kind : {"mlp", "cnn"}) {
    Context ctx = make_cpu_context(1, 9);
    std::unique_ptr<Model> model = make_model(parse_model(kind), {1, 8, 8, 3}, ctx);
    const Tensor images = random_tensor({4, 1, 8, 8}, 3);
    const Tensor dlogits = random_tensor({4, 3}, 4);
    model->forward(ctx, images, true);
    model->backward(ctx, dlogits, GradMode::overwrite);
    const std::vector<float> once = model->parameters().grads().to_floats();
    model->forward(ctx, images, true);
    model->backward(ctx, dlogits, GradMode::accumulate);
    const std::vector<float> twice = model->parameters().grads().to_floats();
    for (size_t i = 0; i < once.size(); ++i) ASSERT_NEAR(twice[i], 2 * once[i], 1e-5f + 1e-5f * std::fabs(once[i])) << kind;
  }
}

// Every parameter is reported ready exactly once, in reverse declaration order (last layer first),
// and only after its gradient is final (it equals the gradient at the end of backward).
TEST(Models, GradReadyHookReportsEachParameterOnceInReverseOrder) {
  for (const std::string kind : {"mlp", "cnn"}) {
    Context ctx = make_cpu_context(1, 9);
    std::unique_ptr<Model> model = make_model(parse_model(kind), {1, 8, 8, 3}, ctx);
    ParameterArena& arena = model->parameters();
    model->forward(ctx, random_tensor({4, 1, 8, 8}, 3), true);
    std::vector<int> order;
    std::vector<std::vector<float>> at_ready(static_cast<size_t>(arena.count()));
    model->backward(ctx, random_tensor({4, 3}, 4), GradMode::overwrite, [&](int id) {
      order.push_back(id);
      at_ready[static_cast<size_t>(id)] = arena.grad(id).to_floats();
    });
    ASSERT_EQ(static_cast<int>(order.size()), arena.count()) << kind;
    // strictly reverse declaration order: layers last-to-first, and within one the parameters too
    for (size_t i = 1; i < order.size(); ++i) EXPECT_LT(order[i], order[i - 1]) << kind;
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (int id = 0; id < arena.count(); ++id) {
      EXPECT_EQ(sorted[static_cast<size_t>(id)], id) << kind;
      EXPECT_EQ(at_ready[static_cast<size_t>(id)], arena.grad(id).to_floats()) << kind << " " << arena.name(id);
    }
    EXPECT_EQ(order.front(), arena.count() - 1) << "the output layer's parameters come first";
  }
}

TEST(Models, InitializationIsBoundedAndSeeded) {
  Context a = make_cpu_context(1, 1), b = make_cpu_context(1, 1), c = make_cpu_context(1, 2);
  pb::ModelConfig config;
  config.mutable_mlp()->add_hidden(64);
  std::unique_ptr<Model> ma = make_model(config, {1, 28, 28, 10}, a);
  std::unique_ptr<Model> mb = make_model(config, {1, 28, 28, 10}, b);
  std::unique_ptr<Model> mc = make_model(config, {1, 28, 28, 10}, c);
  EXPECT_EQ(ma->parameters().values().to_floats(), mb->parameters().values().to_floats());
  EXPECT_NE(ma->parameters().values().to_floats(), mc->parameters().values().to_floats());
  // hidden0.weight: U(±1/sqrt(784)), spread over most of the range
  const std::vector<float> w = ma->parameters().value(ma->parameters().find("hidden0.weight")).to_floats();
  const float bound = 1.0f / std::sqrt(784.0f);
  float low = 0, high = 0;
  for (float v : w) {
    ASSERT_LE(std::fabs(v), bound);
    low = std::min(low, v);
    high = std::max(high, v);
  }
  EXPECT_LT(low, -0.9f * bound);
  EXPECT_GT(high, 0.9f * bound);
  EXPECT_EQ(ma->describe(), "mlp 784-64-10 relu (50890 parameters)");
}

TEST(Models, CnnRejectsTooManyPoolingBlocks) {
  Context ctx = make_cpu_context(1, 1);
  pb::ModelConfig config;
  for (int i = 0; i < 4; ++i) config.mutable_cnn()->add_channels(2);
  config.mutable_cnn()->set_kernel_size(3);
  try {
    make_model(config, {1, 8, 8, 10}, ctx);
    FAIL() << "4 pooling blocks accepted for 8x8 images";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(e.message().find("model.cnn.channels"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace joule
