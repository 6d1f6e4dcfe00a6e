// GELU (tanh approximation): values and derivatives against the closed form in double (serial and
// threaded sizes), published values, gradient check, in-place backward, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "core/context.h"
#include "ops/gelu.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;
using testing::random_tensor;

const double kA = std::sqrt(2.0 / std::numbers::pi);

double gelu(double x) { return 0.5 * x * (1.0 + std::tanh(kA * (x + 0.044715 * x * x * x))); }

double gelu_derivative(double x) {
  const double t = std::tanh(kA * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kA * (1.0 + 3.0 * 0.044715 * x * x);
}

// f32 evaluation (Eigen's vectorized exp is within a few ulp): 2e-6 relative plus 1e-6 absolute.
void check_against_closed_form(const Tensor& x, int threads) {
  Context ctx = make_cpu_context(threads, 1);
  Tensor y, dx, dy = random_tensor(x.shape(), 99);
  gelu_forward(ctx, y, x);
  gelu_backward(ctx, dx, dy, x);
  ASSERT_EQ(y.shape(), x.shape());
  ASSERT_EQ(dx.shape(), x.shape());
  const float *px = x.data<float>(), *py = y.data<float>(), *pdx = dx.data<float>(), *pdy = dy.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double want_y = gelu(px[i]), want_dx = pdy[i] * gelu_derivative(px[i]);
    ASSERT_NEAR(py[i], want_y, 1e-6 + 2e-6 * std::fabs(want_y)) << "y at x = " << px[i];
    ASSERT_NEAR(pdx[i], want_dx, 1e-6 + 2e-6 * std::fabs(want_dx)) << "dx at x = " << px[i];
  }
}

}  // namespace

TEST(Gelu, ForwardMatchesPublishedValues) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = Tensor::from_floats({0.0f, 1.0f, -1.0f, 10.0f, -10.0f}, {5});
  Tensor y;
  gelu_forward(ctx, y, x);
  const std::vector<float> v = y.to_floats();
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_NEAR(v[1], 0.8411919906, 1e-6);  // torch.nn.functional.gelu(1, approximate="tanh")
  EXPECT_NEAR(v[2], -0.1588080094, 1e-6);
  EXPECT_NEAR(v[3], 10.0, 1e-5);
  EXPECT_NEAR(v[4], 0.0, 1e-6);
}

TEST(Gelu, ForwardAndBackwardMatchClosedForm) {
  check_against_closed_form(Tensor::from_floats({-6, -3, -1, -0.5f, 0, 0.25f, 0.5f, 1, 3, 6}, {2, 5}), 1);
  check_against_closed_form(random_tensor({9, 4100}, 3, -5.0f, 5.0f), 2);  // > 32768: threaded, chunk tails
}

TEST(Gelu, GradientCheck) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 7}, 17, -3.0f, 3.0f), y, dx;
  testing::check_gradients(
      [&] {
        gelu_forward(ctx, y, x);
        return y;
      },
      [&](const Tensor& dy) {
        gelu_backward(ctx, dx, dy, x);
        return std::vector<Tensor>{dx};
      },
      {{"x", &x}});
}

TEST(Gelu, BackwardInPlace) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({20}, 4), dy = random_tensor({20}, 5), dx;
  gelu_backward(ctx, dx, dy, x);
  gelu_backward(ctx, dy, dy, x);
  EXPECT_EQ(dy.to_floats(), dx.to_floats());
}

TEST(Gelu, RejectsBadDtypesShapesAndDevices) {
  Context ctx = make_cpu_context(1, 1);
  Tensor y, dx;
  expect_invalid_input([&] { gelu_forward(ctx, y, Tensor::zeros({3}, DType::f16)); }, "gelu_forward: x must be f32");
  expect_invalid_input([&] { gelu_forward(ctx, y, fake_cuda_tensor({3})); },
                       "gelu_forward: built without CUDA (tensor on cuda:0)");
  expect_invalid_input([&] { gelu_backward(ctx, dx, Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); },
                       "gelu_backward: dy must have the shape of x = [3, 2], got f32[2, 3] on cpu");
  expect_invalid_input([&] { gelu_backward(ctx, dx, Tensor(), Tensor::zeros({3})); }, "gelu_backward: dy is undefined");
}

}  // namespace joule
