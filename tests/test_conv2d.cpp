// conv2d: forward against a direct convolution in double, finite-difference gradients of x, weight
// and bias, gradient modes, thread-count independence, and the input checks.
// Dimension letters as in ops/conv2d.h: N C H W in, K R S kernel, P Q out.
#include "ops/conv2d.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::check_gradients;
using testing::max_relative_difference;
using testing::random_tensor;

struct Case {
  int64_t N, C, H, W, K, R, S;
  Conv2dParams params;
  bool bias = true;
};

std::string case_name(const Case& c) {
  return "N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
         std::to_string(c.W) + " K" + std::to_string(c.K) + " " + std::to_string(c.R) + "x" + std::to_string(c.S) +
         " stride " + std::to_string(c.params.stride) + " pad " + std::to_string(c.params.padding);
}

// The cases cover the im2col + GEMM path (C*R*S >= 16), the shallow direct path (C = 1),
// the 1x1 path without im2col, strides 1 and 2, paddings 0 and 1, and non-square shapes.
const std::vector<Case> cases = {
    {2, 3, 7, 5, 4, 3, 3, {1, 0}},  {2, 3, 7, 6, 4, 3, 3, {2, 1}}, {3, 2, 6, 9, 5, 3, 2, {1, 1}},
    {2, 4, 8, 7, 3, 3, 3, {2, 0}},  {2, 1, 6, 5, 4, 3, 3, {1, 1}}, {2, 1, 9, 8, 3, 2, 3, {2, 1}},
    {2, 5, 4, 3, 6, 1, 1, {1, 0}},  {3, 2, 5, 5, 2, 1, 1, {2, 1}}, {2, 17, 3, 4, 3, 1, 1, {1, 0}},
    {2, 3, 5, 6, 4, 3, 3, {1, 1}, false},
};

// y[n, k, p, q] = bias[k] + sum x[n, c, p*stride + r - pad, q*stride + s - pad] * w[k, c, r, s]
std::vector<double> direct_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = w.size(0), R = w.size(2), S = w.size(3);
  const int64_t P = (H + 2 * p.padding - R) / p.stride + 1, Q = (W + 2 * p.padding - S) / p.stride + 1;
  const std::vector<float> xv = x.to_floats(), wv = w.to_floats();
  std::vector<double> y(static_cast<size_t>(N * K * P * Q));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t oh = 0; oh < P; ++oh)
        for (int64_t ow = 0; ow < Q; ++ow) {
          double sum = bias.defined() ? bias.data<float>()[k] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s) {
                const int64_t ih = oh * p.stride + r - p.padding, iw = ow * p.stride + s - p.padding;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                sum += static_cast<double>(xv[((n * C + c) * H + ih) * W + iw]) * wv[((k * C + c) * R + r) * S + s];
              }
          y[((n * K + k) * P + oh) * Q + ow] = sum;
        }
  return y;
}

struct Inputs {
  Tensor x, weight, bias;
};

Inputs make_inputs(const Case& c, uint64_t seed) {
  Inputs in;
  in.x = random_tensor({c.N, c.C, c.H, c.W}, seed);
  in.weight = random_tensor({c.K, c.C, c.R, c.S}, seed + 1);
  if (c.bias) in.bias = random_tensor({c.K}, seed + 2);
  return in;
}

TEST(Conv2dTest, ForwardMatchesDirectConvolution) {
  for (int threads : {1, 2}) {
    Context ctx = make_cpu_context(threads, 1);
    for (const Case& c : cases) {
      SCOPED_TRACE(case_name(c) + " threads " + std::to_string(threads));
      Inputs in = make_inputs(c, 11);
      Tensor y;
      conv2d_forward(ctx, y, in.x, in.weight, in.bias, c.params);
      const std::vector<double> expected = direct_conv(in.x, in.weight, in.bias, c.params);
      const int64_t P = (c.H + 2 * c.params.padding - c.R) / c.params.stride + 1;
      const int64_t Q = (c.W + 2 * c.params.padding - c.S) / c.params.stride + 1;
      ASSERT_EQ(y.shape(), (Shape{c.N, c.K, P, Q}));
      const float* yp = y.data<float>();
      for (size_t i = 0; i < expected.size(); ++i)  // f32 sums of <= 36 O(1) products
        ASSERT_NEAR(yp[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << "element " << i;
    }
  }
}

TEST(Conv2dTest, GradientsOfInputWeightAndBias) {
  Context ctx = make_cpu_context(2, 1);
  for (const Case& c : cases) {
    SCOPED_TRACE(case_name(c) + (c.bias ? "" : " no bias"));
    Inputs in = make_inputs(c, 21);
    Tensor y, dx;
    Tensor dweight = Tensor::zeros(in.weight.shape());
    Tensor dbias = Tensor::zeros({c.K});
    auto forward = [&] {
      conv2d_forward(ctx, y, in.x, in.weight, in.bias, c.params);
      return y;
    };
    auto backward = [&](const Tensor& dy) {
      conv2d_backward(ctx, &dx, dweight, c.bias ? &dbias : nullptr, dy, in.x, in.weight, c.params,
                      GradMode::overwrite);
      std::vector<Tensor> grads{dx, dweight};
      if (c.bias) grads.push_back(dbias);
      return grads;
    };
    std::vector<testing::GradCheckInput> inputs{{"x", &in.x}, {"weight", &in.weight}};
    if (c.bias) inputs.push_back({"bias", &in.bias});
    check_gradients(forward, backward, inputs);
  }
}

TEST(Conv2dTest, SkippingDxLeavesParameterGradientsUnchanged) {
  Context ctx = make_cpu_context(2, 1);
  const Case c = cases[1];
  Inputs in = make_inputs(c, 31);
  Tensor y, dx;
  conv2d_forward(ctx, y, in.x, in.weight, in.bias, c.params);
  Tensor dy = random_tensor(y.shape(), 32);
  Tensor dw1 = Tensor::zeros(in.weight.shape()), db1 = Tensor::zeros({c.K});
  Tensor dw2 = Tensor::zeros(in.weight.shape()), db2 = Tensor::zeros({c.K});
  conv2d_backward(ctx, &dx, dw1, &db1, dy, in.x, in.weight, c.params, GradMode::overwrite);
  conv2d_backward(ctx, nullptr, dw2, &db2, dy, in.x, in.weight, c.params, GradMode::overwrite);
  EXPECT_EQ(dw1.to_floats(), dw2.to_floats());
  EXPECT_EQ(db1.to_floats(), db2.to_floats());
}

TEST(Conv2dTest, AccumulateAddsToParameterGradientsAndOverwritesDx) {
  Context ctx = make_cpu_context(2, 1);
  for (const Case& c : {cases[0], cases[4]}) {
    SCOPED_TRACE(case_name(c));
    Inputs in = make_inputs(c, 41);
    Tensor y;
    conv2d_forward(ctx, y, in.x, in.weight, in.bias, c.params);
    Tensor dy = random_tensor(y.shape(), 42);
    Tensor dx_ref, dw_ref = Tensor::zeros(in.weight.shape()), db_ref = Tensor::zeros({c.K});
    conv2d_backward(ctx, &dx_ref, dw_ref, &db_ref, dy, in.x, in.weight, c.params, GradMode::overwrite);

    Tensor dw_prior = random_tensor(in.weight.shape(), 43), db_prior = random_tensor({c.K}, 44);
    Tensor dw = Tensor::empty(in.weight.shape()), db = Tensor::empty({c.K});
    dw.copy_from(dw_prior);
    db.copy_from(db_prior);
    Tensor dx = random_tensor(in.x.shape(), 45);  // stale values that must be overwritten
    conv2d_backward(ctx, &dx, dw, &db, dy, in.x, in.weight, c.params, GradMode::accumulate);
    EXPECT_EQ(dx.to_floats(), dx_ref.to_floats());
    for (int64_t i = 0; i < dw.numel(); ++i)
      EXPECT_FLOAT_EQ(dw.data<float>()[i], dw_prior.data<float>()[i] + dw_ref.data<float>()[i]) << i;
    for (int64_t i = 0; i < db.numel(); ++i)
      EXPECT_FLOAT_EQ(db.data<float>()[i], db_prior.data<float>()[i] + db_ref.data<float>()[i]) << i;

    // overwrite discards whatever the buffers held
    conv2d_backward(ctx, &dx, dw, &db, dy, in.x, in.weight, c.params, GradMode::overwrite);
    EXPECT_EQ(dw.to_floats(), dw_ref.to_floats());
    EXPECT_EQ(db.to_floats(), db_ref.to_floats());
  }
}

TEST(Conv2dTest, ThreadCountDoesNotChangeResults) {
  // large enough that conv2d splits the batch over threads (tiny problems run on one)
  for (const Case& c : {Case{6, 8, 12, 10, 8, 3, 3, {1, 1}}, Case{64, 1, 16, 15, 8, 3, 3, {2, 1}}}) {
    SCOPED_TRACE(case_name(c));
    Inputs in = make_inputs(c, 51);
    Tensor y1, y2, dx1, dx2;
    Tensor dw1 = Tensor::zeros(in.weight.shape()), db1 = Tensor::zeros({c.K});
    Tensor dw2 = Tensor::zeros(in.weight.shape()), db2 = Tensor::zeros({c.K});
    Context one = make_cpu_context(1, 1);
    conv2d_forward(one, y1, in.x, in.weight, in.bias, c.params);
    Tensor dy = random_tensor(y1.shape(), 52);
    conv2d_backward(one, &dx1, dw1, &db1, dy, in.x, in.weight, c.params, GradMode::overwrite);
    Context two = make_cpu_context(2, 1);
    conv2d_forward(two, y2, in.x, in.weight, in.bias, c.params);
    conv2d_backward(two, &dx2, dw2, &db2, dy, in.x, in.weight, c.params, GradMode::overwrite);
    const std::vector<double> expected = direct_conv(in.x, in.weight, in.bias, c.params);
    for (size_t i = 0; i < expected.size(); ++i)
      ASSERT_NEAR(y2.data<float>()[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << "element " << i;
    // per-thread partial sums change the summation order of dweight/dbias only: f32 rounding
    EXPECT_LT(max_relative_difference(y2, y1), 1e-6);
    EXPECT_LT(max_relative_difference(dx2, dx1), 1e-6);
    EXPECT_LT(max_relative_difference(dw2, dw1), 1e-5);
    EXPECT_LT(max_relative_difference(db2, db1), 1e-5);
  }
}

TEST(Conv2dTest, RejectsInvalidInputs) {
  Context ctx = make_cpu_context(1, 1);
  const Tensor x = random_tensor({2, 3, 5, 5}, 61), w = random_tensor({4, 3, 3, 3}, 62), b = random_tensor({4}, 63);
  Tensor y;
  const Conv2dParams p{1, 0};
  expect_invalid_input([&] { conv2d_forward(ctx, y, random_tensor({3, 5, 5}, 1), w, b, p); },
                       {"conv2d_forward", "x", "4 dims"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, x, random_tensor({4, 3, 3}, 1), b, p); },
                       {"conv2d_forward", "weight", "4 dims"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, x, random_tensor({4, 2, 3, 3}, 1), b, p); },
                       {"weight", "in-channels", "C = 3"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, x, random_tensor({4, 3, 6, 3}, 1), b, p); },
                       {"weight", "kernel 6x3", "padded input 5x5"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, x, random_tensor({4, 3, 8, 8}, 1), b, {1, 1}); },
                       {"kernel 8x8", "padded input 7x7"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, x, w, random_tensor({5}, 1), p); }, {"bias", "K = 4"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, x, w, b, {0, 0}); }, {"stride"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, x, w, b, {1, -1}); }, {"padding"});
  expect_invalid_input([&] { conv2d_forward(ctx, y, Tensor::zeros({2, 3, 5, 5}, DType::bf16), w, b, p); },
                       {"x", "f32"});

  // a tensor that claims to live on a GPU (never dereferenced)
  static float fake[2 * 3 * 5 * 5];
  const Tensor on_gpu(Storage(fake, sizeof(fake), Device::cuda(0), [](void*) {}), 0, {2, 3, 5, 5}, DType::f32);
  expect_invalid_input([&] { conv2d_forward(ctx, y, on_gpu, w, b, p); },
                       {"conv2d_forward: built without CUDA (tensor on cuda:0)"});

  conv2d_forward(ctx, y, x, w, b, p);  // y: [2, 4, 3, 3]
  Tensor dx, dw = Tensor::zeros(w.shape()), db = Tensor::zeros({4});
  expect_invalid_input(
      [&] { conv2d_backward(ctx, &dx, dw, &db, random_tensor({2, 4, 3, 4}, 1), x, w, p, GradMode::overwrite); },
      {"conv2d_backward", "dy", "[2, 4, 3, 3]"});
  Tensor dw_bad = Tensor::zeros({4, 3, 3, 2});
  expect_invalid_input([&] { conv2d_backward(ctx, &dx, dw_bad, &db, y, x, w, p, GradMode::overwrite); },
                       {"dweight", "[4, 3, 3, 3]"});
  Tensor db_bad = Tensor::zeros({3});
  expect_invalid_input([&] { conv2d_backward(ctx, &dx, dw, &db_bad, y, x, w, p, GradMode::overwrite); },
                       {"dbias", "K = 4"});
  expect_invalid_input(
      [&] { conv2d_backward(ctx, &dx, dw, &db, y, x, random_tensor({4, 2, 3, 3}, 1), p, GradMode::overwrite); },
      {"conv2d_backward", "weight", "C = 3"});
}

}  // namespace
}  // namespace joule
