// ReLU: closed-form values (serial and threaded sizes), gradient check, in-place backward, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/context.h"
#include "ops/relu.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;
using testing::random_tensor;

}  // namespace

TEST(Relu, ForwardMatchesClosedForm) {
  Context ctx = make_cpu_context(2, 1);
  Tensor x = Tensor::from_floats({-2.0f, -0.5f, 0.0f, 0.5f, 3.0f, std::numeric_limits<float>::quiet_NaN()}, {2, 3});
  Tensor y;
  relu_forward(ctx, y, x);
  ASSERT_EQ(y.shape(), x.shape());
  const std::vector<float> v = y.to_floats();
  EXPECT_EQ(std::vector<float>(v.begin(), v.begin() + 5), (std::vector<float>{0, 0, 0, 0.5f, 3.0f}));
  EXPECT_TRUE(std::isnan(v[5])) << "NaN must propagate, as in PyTorch";

  Tensor big = random_tensor({3, 50, 300}, 5);  // 45000 elements: the threaded path
  relu_forward(ctx, y, big);
  ASSERT_EQ(y.shape(), big.shape());
  const float *pb = big.data<float>(), *py = y.data<float>();
  for (int64_t i = 0; i < big.numel(); ++i) ASSERT_EQ(py[i], pb[i] > 0 ? pb[i] : 0.0f) << i;
}

TEST(Relu, GradientCheck) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({4, 3, 2}, 7), y, dx;
  testing::check_gradients(
      [&] {
        relu_forward(ctx, y, x);
        return y;
      },
      [&](const Tensor& dy) {
        relu_backward(ctx, dx, dy, y);
        return std::vector<Tensor>{dx};
      },
      {{"x", &x}});
}

TEST(Relu, BackwardUsesOutputAndWorksInPlace) {
  Context ctx = make_cpu_context(1, 1);
  Tensor y = Tensor::from_floats({0.0f, 1.5f, 0.0f, 2.0f}, {4});
  Tensor dy = Tensor::from_floats({1.0f, 2.0f, 3.0f, -4.0f}, {4});
  Tensor dx;
  relu_backward(ctx, dx, dy, y);
  EXPECT_EQ(dx.to_floats(), (std::vector<float>{0, 2, 0, -4}));
  relu_backward(ctx, dy, dy, y);  // in place
  EXPECT_EQ(dy.to_floats(), (std::vector<float>{0, 2, 0, -4}));
}

TEST(Relu, ForwardInPlace) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = Tensor::from_floats({-1.0f, 2.0f}, {2});
  const void* storage = x.raw_data();
  relu_forward(ctx, x, x);
  EXPECT_EQ(x.raw_data(), storage);
  EXPECT_EQ(x.to_floats(), (std::vector<float>{0, 2}));
}

TEST(Relu, RejectsBadDtypesShapesAndDevices) {
  Context ctx = make_cpu_context(1, 1);
  Tensor y, dx;
  expect_invalid_input([&] { relu_forward(ctx, y, Tensor::zeros({3}, DType::i32)); }, "relu_forward: x must be f32");
  expect_invalid_input([&] { relu_forward(ctx, y, Tensor()); }, "relu_forward: x is undefined");
  expect_invalid_input([&] { relu_forward(ctx, y, fake_cuda_tensor({3})); },
                       "relu_forward: built without CUDA (tensor on cuda:0)");
  expect_invalid_input([&] { relu_backward(ctx, dx, Tensor::zeros({3}), Tensor::zeros({4})); },
                       "relu_backward: dy must have the shape of y = [4], got f32[3] on cpu");
  expect_invalid_input([&] { relu_backward(ctx, dx, Tensor::zeros({3}), Tensor::zeros({3}, DType::bf16)); },
                       "relu_backward: y must be f32");
}

}  // namespace joule
