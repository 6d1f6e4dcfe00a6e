// SGD: several steps against a double-precision reference of torch.optim.SGD's formulas, and
// convergence on a quadratic.
#include <gtest/gtest.h>

#include <cmath>

#include "core/context.h"
#include "core/error.h"
#include "ops/parameters.h"
#include "ops/sgd.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

struct Reference {
  std::vector<double> p, buf;
};

// torch.optim.SGD, dampening 0, written out: first step buf = g, later buf = mu buf + g.
void reference_step(Reference& r, const std::vector<float>& grad, const SgdOptions& o, double lr, bool first) {
  for (size_t i = 0; i < r.p.size(); ++i) {
    double g = grad[i] + double{o.weight_decay} * r.p[i];
    if (o.momentum != 0.0f) {
      r.buf[i] = first ? g : double{o.momentum} * r.buf[i] + g;
      g = o.nesterov ? g + double{o.momentum} * r.buf[i] : r.buf[i];
    }
    r.p[i] -= lr * g;
  }
}

void expect_matches_reference(const SgdOptions& options, int64_t n, int threads) {
  Context ctx = make_cpu_context(threads, 0);
  Tensor params = testing::random_tensor({n}, 1);
  Tensor buffer;  // allocated as zeros by the first step
  Reference ref;
  for (float v : params.to_floats()) ref.p.push_back(v);
  ref.buf.assign(static_cast<size_t>(n), 0.0);
  const float lrs[] = {0.1f, 0.05f, 0.2f, 0.1f, 0.01f};
  for (int step = 0; step < 5; ++step) {
    Tensor grads = testing::random_tensor({n}, 100 + static_cast<uint64_t>(step), -2.0f, 2.0f);
    sgd_step(ctx, params, buffer, grads, options, lrs[step]);
    reference_step(ref, grads.to_floats(), options, lrs[step], step == 0);
  }
  // f32 arithmetic on O(1) values over 5 steps: a few ulps of drift.
  const std::vector<float> p = params.to_floats();
  for (size_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], ref.p[i], 5e-6) << "element " << i;
  if (options.momentum != 0.0f) {
    const std::vector<float> b = buffer.to_floats();
    for (size_t i = 0; i < b.size(); ++i) ASSERT_NEAR(b[i], ref.buf[i], 2e-5) << "element " << i;
  }
}

TEST(Sgd, PlainMatchesReference) { expect_matches_reference({.momentum = 0.0f}, 37, 1); }

TEST(Sgd, MomentumMatchesReference) { expect_matches_reference({.momentum = 0.9f}, 37, 1); }

TEST(Sgd, NesterovMatchesReference) { expect_matches_reference({.momentum = 0.8f, .nesterov = true}, 37, 1); }

TEST(Sgd, WeightDecayMatchesReference) {
  expect_matches_reference({.momentum = 0.0f, .weight_decay = 0.1f}, 37, 1);
  expect_matches_reference({.momentum = 0.9f, .weight_decay = 0.05f}, 37, 1);
  expect_matches_reference({.momentum = 0.9f, .nesterov = true, .weight_decay = 0.05f}, 37, 1);
}

TEST(Sgd, ParallelPathMatchesReference) {
  expect_matches_reference({.momentum = 0.9f, .nesterov = true, .weight_decay = 1e-3f}, 50000, 2);
}

TEST(Sgd, FirstMomentumStepEqualsPlainStep) {
  Context ctx = make_cpu_context(1, 0);
  Tensor a = Tensor::from_floats({1.0f, -2.0f}, {2}), b = Tensor::from_floats({1.0f, -2.0f}, {2});
  Tensor grads = Tensor::from_floats({0.5f, 4.0f}, {2});
  Tensor buf_a, buf_b;
  sgd_step(ctx, a, buf_a, grads, {.momentum = 0.9f}, 0.1f);
  sgd_step(ctx, b, buf_b, grads, {.momentum = 0.0f}, 0.1f);
  EXPECT_EQ(a.to_floats(), b.to_floats());
  EXPECT_EQ(buf_a.to_floats(), grads.to_floats());
  EXPECT_FALSE(buf_b.defined());  // momentum 0 needs no buffer
}

TEST(Sgd, ConvergesOnQuadraticInArena) {
  // f(x) = 1/2 sum_i a_i (x_i - c_i)^2 over two arena parameters (the padding rides along).
  ParameterArena arena;
  arena.add("w", {3, 2});
  arena.add("b", {3});
  arena.allocate(Device::cpu());
  Tensor values = arena.values(), grads = arena.grads(), buffer;
  const int64_t n = arena.total_elements();
  std::vector<double> a(static_cast<size_t>(n)), c(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    a[static_cast<size_t>(i)] = 0.5 + 0.1 * static_cast<double>(i % 7);
    c[static_cast<size_t>(i)] = std::sin(static_cast<double>(i));
  }
  Context ctx = make_cpu_context(1, 0);
  for (int step = 0; step < 300; ++step) {
    for (int64_t i = 0; i < n; ++i) {
      const auto k = static_cast<size_t>(i);
      grads.data<float>()[i] = static_cast<float>(a[k] * (values.data<float>()[i] - c[k]));
    }
    sgd_step(ctx, values, buffer, grads, {.momentum = 0.9f, .nesterov = true}, 0.1f);
  }
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(values.data<float>()[i], c[static_cast<size_t>(i)], 1e-4);
}

TEST(Sgd, RejectsBadArguments) {
  Context ctx = make_cpu_context(1, 0);
  Tensor p = Tensor::zeros({4}), g = Tensor::zeros({4}), buf;
  testing::expect_invalid_input([&] { sgd_step(ctx, p, buf, g, {.momentum = 0.0f, .nesterov = true}, 0.1f); },
                                {"nesterov"});
  Tensor short_grads = Tensor::zeros({3});
  testing::expect_invalid_input([&] { sgd_step(ctx, p, buf, short_grads, {}, 0.1f); }, {"grads"});
  Tensor wrong_buf = Tensor::zeros({2, 2});
  testing::expect_invalid_input([&] { sgd_step(ctx, p, wrong_buf, g, {}, 0.1f); }, {"momentum_buffer"});
  testing::expect_invalid_input([&] { sgd_step(ctx, p, buf, g, {}, -1.0f); }, {"lr"});
}

}  // namespace
}  // namespace joule
