// Flatten: forward and backward are views of the same storage with the right shapes, a gradient
// check, metadata-only behaviour on any dtype/device, errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/context.h"
#include "ops/flatten.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::random_tensor;

}  // namespace

TEST(Flatten, ForwardIsAViewOfShapeNByF) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({2, 3, 4}, 1), y;
  flatten_forward(ctx, y, x);
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.raw_data(), x.raw_data());
  EXPECT_EQ(y.to_floats(), x.to_floats());
  y.data<float>()[13] = 42.0f;
  EXPECT_EQ(x.data<float>()[13], 42.0f);

  Tensor v = random_tensor({5}, 2), w;
  flatten_forward(ctx, w, v);
  EXPECT_EQ(w.shape(), (Shape{5, 1}));
}

TEST(Flatten, BackwardRestoresInputShapeAsAView) {
  Context ctx = make_cpu_context(1, 1);
  Tensor dy = random_tensor({2, 12}, 3), dx;
  flatten_backward(ctx, dx, dy, {2, 3, 2, 2});
  EXPECT_EQ(dx.shape(), (Shape{2, 3, 2, 2}));
  EXPECT_EQ(dx.raw_data(), dy.raw_data());
  EXPECT_EQ(dx.to_floats(), dy.to_floats());
}

TEST(Flatten, GradientCheck) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 2, 4}, 4), y, dx;
  testing::check_gradients(
      [&] {
        flatten_forward(ctx, y, x);
        return y;
      },
      [&](const Tensor& dy) {
        flatten_backward(ctx, dx, dy, x.shape());
        return std::vector<Tensor>{dx};
      },
      {{"x", &x}});
}

TEST(Flatten, AnyDtypeAndDeviceSinceOnlyMetadataChanges) {
  Context ctx = make_cpu_context(1, 1);
  static float never_read[24];
  Tensor on_gpu(Storage(never_read, sizeof(never_read), Device::cuda(0), [](void*) {}), 0, {2, 3, 4}, DType::f32);
  Tensor y;
  flatten_forward(ctx, y, on_gpu);
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.device(), Device::cuda(0));
  Tensor ids = Tensor::zeros({4, 2, 2}, DType::i32), flat;
  flatten_forward(ctx, flat, ids);
  EXPECT_EQ(flat.shape(), (Shape{4, 4}));
  EXPECT_EQ(flat.dtype(), DType::i32);
}

TEST(Flatten, RejectsBadShapes) {
  Context ctx = make_cpu_context(1, 1);
  Tensor y, dx;
  expect_invalid_input([&] { flatten_forward(ctx, y, Tensor()); }, "flatten_forward: x is undefined");
  expect_invalid_input([&] { flatten_forward(ctx, y, Tensor::zeros({})); },
                       "flatten_forward: x must have at least 1 dim");
  expect_invalid_input([&] { flatten_backward(ctx, dx, random_tensor({2, 11}, 1), {2, 3, 4}); },
                       "flatten_backward: dy must be [N, F] = [2, 12] for x_shape [2, 3, 4], got f32[2, 11] on cpu");
  expect_invalid_input([&] { flatten_backward(ctx, dx, random_tensor({2, 12}, 1), {}); },
                       "flatten_backward: x_shape must have at least 1 dim");
}

}  // namespace joule
