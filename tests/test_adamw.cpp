// AdamW: several steps against a double-precision reference of torch.optim.AdamW's formulas, the
// size of the first step, and convergence on a quadratic under a warm-up + cosine schedule.
#include <gtest/gtest.h>

#include <cmath>

#include "core/context.h"
#include "ops/adamw.h"
#include "ops/lr_schedule.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

struct Reference {
  std::vector<double> p, m, v;
};

void reference_step(Reference& r, const std::vector<float>& grad, const AdamWOptions& o, double lr, int64_t t) {
  const double b1 = o.beta1, b2 = o.beta2;
  for (size_t i = 0; i < r.p.size(); ++i) {
    const double g = grad[i];
    r.p[i] *= 1.0 - lr * o.weight_decay;
    r.m[i] = b1 * r.m[i] + (1.0 - b1) * g;
    r.v[i] = b2 * r.v[i] + (1.0 - b2) * g * g;
    const double m_hat = r.m[i] / (1.0 - std::pow(b1, static_cast<double>(t)));
    const double v_hat = r.v[i] / (1.0 - std::pow(b2, static_cast<double>(t)));
    r.p[i] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
  }
}

// grad_scale sets the gradient magnitude, so eps can be made to matter.
void expect_matches_reference(const AdamWOptions& options, int64_t n, int threads, float grad_scale) {
  Context ctx = make_cpu_context(threads, 0);
  Tensor params = testing::random_tensor({n}, 2);
  Tensor m, v;  // allocated as zeros by step 1
  Reference ref;
  for (float x : params.to_floats()) ref.p.push_back(x);
  ref.m.assign(static_cast<size_t>(n), 0.0);
  ref.v.assign(static_cast<size_t>(n), 0.0);
  const float lrs[] = {0.01f, 0.02f, 0.05f, 0.02f, 0.01f, 0.001f};
  for (int64_t t = 1; t <= 6; ++t) {
    Tensor grads = testing::random_tensor({n}, 200 + static_cast<uint64_t>(t), -grad_scale, grad_scale);
    adamw_step(ctx, params, m, v, grads, options, lrs[t - 1], t);
    reference_step(ref, grads.to_floats(), options, lrs[t - 1], t);
  }
  // Each step moves a parameter by at most ~lr; f32 rounding of O(1) values over 6 steps stays
  // within a few ulps (1e-7 each), while any formula error shows at the 1e-3 scale of the updates.
  const std::vector<float> p = params.to_floats(), mv = m.to_floats(), vv = v.to_floats();
  for (size_t i = 0; i < p.size(); ++i) {
    ASSERT_NEAR(p[i], ref.p[i], 2e-6) << "element " << i;
    ASSERT_NEAR(mv[i], ref.m[i], 1e-6 * grad_scale) << "element " << i;
    ASSERT_NEAR(vv[i], ref.v[i], 1e-6 * grad_scale * grad_scale) << "element " << i;
  }
}

TEST(AdamW, MatchesReferenceDefaults) { expect_matches_reference({}, 41, 1, 1.0f); }

TEST(AdamW, MatchesReferenceWithoutWeightDecay) {
  expect_matches_reference({.beta1 = 0.8f, .beta2 = 0.99f, .weight_decay = 0.0f}, 41, 1, 1.0f);
}

TEST(AdamW, MatchesReferenceStrongDecayAndLargeEps) {
  // Gradients of 1e-3 against eps 1e-3: eps changes the step by a factor of ~2.
  expect_matches_reference({.eps = 1e-3f, .weight_decay = 0.5f}, 41, 1, 1e-3f);
}

TEST(AdamW, ParallelPathMatchesReference) { expect_matches_reference({}, 40000, 2, 1.0f); }

TEST(AdamW, FirstStepMovesByLrTimesSign) {
  // Bias correction makes step 1 exactly m_hat / sqrt(v_hat) = sign(g), whatever |g|.
  Context ctx = make_cpu_context(1, 0);
  Tensor params = Tensor::from_floats({1.0f, 1.0f, 1.0f}, {3});
  Tensor grads = Tensor::from_floats({3.0f, -0.01f, 200.0f}, {3});
  Tensor m, v;
  adamw_step(ctx, params, m, v, grads, {.weight_decay = 0.0f}, 0.1f, 1);
  const std::vector<float> p = params.to_floats();
  EXPECT_NEAR(p[0], 0.9f, 1e-6);
  EXPECT_NEAR(p[1], 1.1f, 1e-5);  // eps / |g| = 1e-6 relative
  EXPECT_NEAR(p[2], 0.9f, 1e-6);
}

TEST(AdamW, ConvergesOnQuadraticWithSchedule) {
  const int64_t n = 24;
  Context ctx = make_cpu_context(1, 0);
  Tensor params = Tensor::zeros({n}), grads = Tensor::zeros({n}), m, v;
  std::vector<double> a(n), c(n);
  for (int64_t i = 0; i < n; ++i) {
    a[static_cast<size_t>(i)] = 0.2 + 0.3 * static_cast<double>(i % 5);
    c[static_cast<size_t>(i)] = 2.0 * std::cos(static_cast<double>(i));
  }
  const LrSchedule schedule{.kind = ScheduleKind::warmup_cosine, .base_lr = 0.1f, .warmup_steps = 20,
                            .total_steps = 600, .min_lr_ratio = 0.0f};
  for (int64_t step = 0; step < schedule.total_steps; ++step) {
    for (int64_t i = 0; i < n; ++i) {
      const auto k = static_cast<size_t>(i);
      grads.data<float>()[i] = static_cast<float>(a[k] * (params.data<float>()[i] - c[k]));
    }
    adamw_step(ctx, params, m, v, grads, {.weight_decay = 0.0f}, lr_at(schedule, step), step + 1);
  }
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(params.data<float>()[i], c[static_cast<size_t>(i)], 1e-2);
}

TEST(AdamW, RejectsBadArguments) {
  Context ctx = make_cpu_context(1, 0);
  Tensor p = Tensor::zeros({4}), g = Tensor::zeros({4}), m, v;
  testing::expect_invalid_input([&] { adamw_step(ctx, p, m, v, g, {}, 0.1f, 0); }, {"step", "1-based"});
  testing::expect_invalid_input([&] { adamw_step(ctx, p, m, v, g, {.beta1 = 1.0f}, 0.1f, 1); }, {"beta1"});
  Tensor wrong = Tensor::zeros({5});
  testing::expect_invalid_input([&] { adamw_step(ctx, p, wrong, v, g, {}, 0.1f, 1); }, {"m must be"});
}

}  // namespace
}  // namespace joule
