// LayerNorm: forward and backward against double loops (serial and threaded/column-block sizes),
// a constant row (closed form: y = beta), gradient check over x, gamma and beta, accumulation,
// in-place backward, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/context.h"
#include "ops/layernorm.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;
using testing::random_tensor;

void expect_close(const Tensor& actual, const std::vector<double>& expected, double tolerance, const char* what) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  const float* p = actual.data<float>();
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(p[i], expected[i], tolerance * (1.0 + std::fabs(expected[i]))) << what << "[" << i << "]";
  }
}

void check_against_double_loops(int64_t N, int64_t D, int threads) {
  Context ctx = make_cpu_context(threads, 1);
  const double eps = 1e-5;
  Tensor x = random_tensor({N, D}, 1, 2.0f, 5.0f);  // off-centre: a one-pass variance would lose digits
  Tensor gamma = random_tensor({D}, 2, 0.5f, 1.5f), beta = random_tensor({D}, 3), dy = random_tensor({N, D}, 4);
  const float *px = x.data<float>(), *pg = gamma.data<float>(), *pb = beta.data<float>(), *pdy = dy.data<float>();
  std::vector<double> y(N * D), mean(N), rstd(N), dx(N * D), dgamma(D), dbeta(D);
  for (int64_t n = 0; n < N; ++n) {
    double mu = 0, var = 0;
    for (int64_t d = 0; d < D; ++d) mu += px[n * D + d];
    mu /= D;
    for (int64_t d = 0; d < D; ++d) var += (px[n * D + d] - mu) * (px[n * D + d] - mu);
    var /= D;
    const double rs = 1 / std::sqrt(var + eps);
    mean[n] = mu;
    rstd[n] = rs;
    double mean_g = 0, mean_gx = 0;
    for (int64_t d = 0; d < D; ++d) {
      const double xhat = (px[n * D + d] - mu) * rs, g = pdy[n * D + d] * pg[d];
      y[n * D + d] = xhat * pg[d] + pb[d];
      dgamma[d] += pdy[n * D + d] * xhat;
      dbeta[d] += pdy[n * D + d];
      mean_g += g / D;
      mean_gx += g * xhat / D;
    }
    for (int64_t d = 0; d < D; ++d) {
      const double xhat = (px[n * D + d] - mu) * rs, g = pdy[n * D + d] * pg[d];
      dx[n * D + d] = rs * (g - mean_g - xhat * mean_gx);
    }
  }
  Tensor ty, tmean, trstd, tdx, tdgamma = Tensor::zeros({D}), tdbeta = Tensor::zeros({D});
  layernorm_forward(ctx, ty, tmean, trstd, x, gamma, beta, static_cast<float>(eps));
  layernorm_backward(ctx, tdx, tdgamma, tdbeta, dy, x, gamma, tmean, trstd, GradMode::overwrite);
  // f32 row statistics and sums over up to 520 terms (or 70 rows): ~1e-5 relative at worst
  expect_close(ty, y, 1e-5, "y");
  expect_close(tmean, mean, 1e-6, "mean");
  expect_close(trstd, rstd, 1e-5, "rstd");
  expect_close(tdx, dx, 1e-4, "dx");
  expect_close(tdgamma, dgamma, 1e-4, "dgamma");
  expect_close(tdbeta, dbeta, 1e-5, "dbeta");
}

}  // namespace

TEST(LayerNorm, ForwardAndBackwardMatchDoubleLoops) {
  check_against_double_loops(3, 8, 1);
  check_against_double_loops(70, 520, 2);  // > 32768 elements: threaded rows and 5 column blocks
}

TEST(LayerNorm, ConstantRowGivesBeta) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = Tensor::from_floats({3, 3, 3, 3, 1, 2, 3, 4}, {2, 4});
  Tensor gamma = Tensor::from_floats({2, 2, 2, 2}, {4}), beta = Tensor::from_floats({0.5f, -1, 0, 7}, {4});
  Tensor y, mean, rstd;
  layernorm_forward(ctx, y, mean, rstd, x, gamma, beta);
  const std::vector<float> v = y.to_floats();
  EXPECT_EQ(std::vector<float>(v.begin(), v.begin() + 4), (std::vector<float>{0.5f, -1, 0, 7}));
  EXPECT_FLOAT_EQ(mean.data<float>()[0], 3.0f);
  EXPECT_FLOAT_EQ(rstd.data<float>()[0], 1.0f / std::sqrt(1e-5f));
  // row [1, 2, 3, 4]: mean 2.5, variance 1.25
  EXPECT_FLOAT_EQ(mean.data<float>()[1], 2.5f);
  EXPECT_NEAR(v[4], 2 * -1.5 / std::sqrt(1.25 + 1e-5) + 0.5, 1e-5);
}

TEST(LayerNorm, GradientCheck) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 6}, 11), gamma = random_tensor({6}, 12, 0.5f, 1.5f), beta = random_tensor({6}, 13);
  Tensor y, mean, rstd, dx, dgamma = Tensor::zeros({6}), dbeta = Tensor::zeros({6});
  testing::check_gradients(
      [&] {
        layernorm_forward(ctx, y, mean, rstd, x, gamma, beta);
        return y;
      },
      [&](const Tensor& dy) {
        layernorm_backward(ctx, dx, dgamma, dbeta, dy, x, gamma, mean, rstd, GradMode::overwrite);
        return std::vector<Tensor>{dx, dgamma, dbeta};
      },
      {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}});
}

TEST(LayerNorm, AccumulateAddsToExistingGrads) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({4, 5}, 21), gamma = random_tensor({5}, 22), beta = random_tensor({5}, 23);
  Tensor dy = random_tensor({4, 5}, 24), y, mean, rstd, dx;
  layernorm_forward(ctx, y, mean, rstd, x, gamma, beta);
  Tensor dgamma = Tensor::zeros({5}), dbeta = Tensor::zeros({5});
  layernorm_backward(ctx, dx, dgamma, dbeta, dy, x, gamma, mean, rstd, GradMode::overwrite);

  Tensor acc_gamma = random_tensor({5}, 25), acc_beta = random_tensor({5}, 26);
  const std::vector<float> g0 = acc_gamma.to_floats(), b0 = acc_beta.to_floats();
  layernorm_backward(ctx, dx, acc_gamma, acc_beta, dy, x, gamma, mean, rstd, GradMode::accumulate);
  for (int d = 0; d < 5; ++d) {
    EXPECT_FLOAT_EQ(acc_gamma.data<float>()[d], g0[d] + dgamma.data<float>()[d]) << d;
    EXPECT_FLOAT_EQ(acc_beta.data<float>()[d], b0[d] + dbeta.data<float>()[d]) << d;
  }
}

TEST(LayerNorm, BackwardInPlace) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 7}, 31), gamma = random_tensor({7}, 32), beta = random_tensor({7}, 33);
  Tensor dy = random_tensor({3, 7}, 34), y, mean, rstd, dx;
  Tensor dgamma = Tensor::zeros({7}), dbeta = Tensor::zeros({7}), dgamma2 = Tensor::zeros({7}),
         dbeta2 = Tensor::zeros({7});
  layernorm_forward(ctx, y, mean, rstd, x, gamma, beta);
  layernorm_backward(ctx, dx, dgamma, dbeta, dy, x, gamma, mean, rstd, GradMode::overwrite);
  layernorm_backward(ctx, dy, dgamma2, dbeta2, dy, x, gamma, mean, rstd, GradMode::overwrite);
  EXPECT_EQ(dy.to_floats(), dx.to_floats());
  EXPECT_EQ(dgamma2.to_floats(), dgamma.to_floats());
  EXPECT_EQ(dbeta2.to_floats(), dbeta.to_floats());
}

TEST(LayerNorm, RejectsBadShapesDtypesAndDevices) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 8}, 1), gamma = random_tensor({8}, 2), beta = random_tensor({8}, 3);
  Tensor y, mean, rstd, dx;
  expect_invalid_input([&] { layernorm_forward(ctx, y, mean, rstd, x, random_tensor({7}, 2), beta); },
                       "layernorm_forward: gamma must be [D] = [8], got f32[7] on cpu");
  expect_invalid_input([&] { layernorm_forward(ctx, y, mean, rstd, x, gamma, random_tensor({2, 4}, 3)); },
                       "layernorm_forward: beta must have 1 dims");
  expect_invalid_input([&] { layernorm_forward(ctx, y, mean, rstd, random_tensor({2, 3, 8}, 1), gamma, beta); },
                       "layernorm_forward: x must have 2 dims");
  expect_invalid_input([&] { layernorm_forward(ctx, y, mean, rstd, x, gamma, beta, 0.0f); },
                       "layernorm_forward: eps must be positive");
  expect_invalid_input([&] { layernorm_forward(ctx, y, mean, rstd, fake_cuda_tensor({3, 8}), gamma, beta); },
                       "layernorm_forward: built without CUDA (tensor on cuda:0)");

  layernorm_forward(ctx, y, mean, rstd, x, gamma, beta);
  Tensor dgamma = Tensor::zeros({8}), dbeta = Tensor::zeros({8}), dy = random_tensor({3, 8}, 4);
  const Tensor mean4 = random_tensor({4}, 5), dy39 = random_tensor({3, 9}, 4);
  Tensor bad_dbeta = Tensor::zeros({8}, DType::bf16);
  const GradMode over = GradMode::overwrite;
  expect_invalid_input([&] { layernorm_backward(ctx, dx, dgamma, dbeta, dy, x, gamma, mean4, rstd, over); },
                       "layernorm_backward: mean must be [N] = [3], got f32[4] on cpu");
  expect_invalid_input([&] { layernorm_backward(ctx, dx, dgamma, bad_dbeta, dy, x, gamma, mean, rstd, over); },
                       "layernorm_backward: dbeta must be f32");
  expect_invalid_input([&] { layernorm_backward(ctx, dx, dgamma, dbeta, dy39, x, gamma, mean, rstd, over); },
                       "layernorm_backward: dy must be [N, D] = [3, 8]");
}

}  // namespace joule
