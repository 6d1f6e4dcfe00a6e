// maxpool2d: forward and backward against naive loops, ties and NaN, finite-difference gradients,
// and the input checks. Dimension letters as in ops/maxpool2d.h: N C H W in, P Q out.
#include "ops/maxpool2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::check_gradients;
using testing::random_tensor;

struct Case {
  int64_t N, C, H, W;
  int kernel, stride;
};

std::string case_name(const Case& c) {
  return "N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
         std::to_string(c.W) + " kernel " + std::to_string(c.kernel) + " stride " + std::to_string(c.stride);
}

// 2/2 (its vector path: Q of 4, 2, 18 = a full block of 16 and a tail) and 3/2 (overlapping
// windows), odd sizes that leave rows and columns unread, other windows, and a window as large
// as the input. The last case is large enough to be split over threads.
const std::vector<Case> cases = {
    {2, 3, 6, 8, 2, 2}, {2, 3, 7, 5, 2, 2}, {1, 2, 5, 37, 2, 2}, {2, 2, 7, 9, 3, 2}, {1, 3, 6, 6, 3, 2},
    {2, 2, 9, 7, 4, 3}, {2, 2, 5, 6, 2, 1}, {1, 2, 3, 4, 3, 1},
    {4, 8, 33, 32, 2, 2},
};

struct Naive {
  std::vector<float> y;
  std::vector<int32_t> argmax;
};

// Windows scanned row-major with a strict >: the first maximum wins.
Naive naive_forward(const Tensor& x, int kernel, int stride) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t P = (H - kernel) / stride + 1, Q = (W - kernel) / stride + 1;
  const float* xp = x.data<float>();
  Naive out;
  for (int64_t plane = 0; plane < N * C; ++plane)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        int64_t best = -1;
        for (int64_t i = 0; i < kernel; ++i)
          for (int64_t j = 0; j < kernel; ++j) {
            const int64_t index = (p * stride + i) * W + q * stride + j;
            if (best < 0 || xp[plane * H * W + index] > xp[plane * H * W + best]) best = index;
          }
        out.y.push_back(xp[plane * H * W + best]);
        out.argmax.push_back(static_cast<int32_t>(best));
      }
  return out;
}

std::vector<int32_t> ints(const Tensor& t) {
  const int32_t* p = t.data<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

TEST(MaxPool2dTest, ForwardAndBackwardMatchNaiveLoops) {
  for (int threads : {1, 2}) {
    Context ctx = make_cpu_context(threads, 1);
    for (const Case& c : cases) {
      SCOPED_TRACE(case_name(c) + " threads " + std::to_string(threads));
      const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, 3);
      Tensor y, argmax, dx;
      maxpool2d_forward(ctx, y, argmax, x, c.kernel, c.stride);
      const int64_t P = (c.H - c.kernel) / c.stride + 1, Q = (c.W - c.kernel) / c.stride + 1;
      ASSERT_EQ(y.shape(), (Shape{c.N, c.C, P, Q}));
      ASSERT_EQ(argmax.shape(), y.shape());
      ASSERT_EQ(argmax.dtype(), DType::i32);
      const Naive expected = naive_forward(x, c.kernel, c.stride);
      EXPECT_EQ(y.to_floats(), expected.y);
      EXPECT_EQ(ints(argmax), expected.argmax);

      const Tensor dy = random_tensor(y.shape(), 4);
      maxpool2d_backward(ctx, dx, dy, argmax, x.shape());
      ASSERT_EQ(dx.shape(), x.shape());
      std::vector<float> dx_expected(static_cast<size_t>(x.numel()), 0.0f);
      const int64_t HW = c.H * c.W;
      for (int64_t i = 0; i < dy.numel(); ++i)  // same order as the op: exact equality holds
        dx_expected[static_cast<size_t>(i / (P * Q) * HW + expected.argmax[i])] += dy.data<float>()[i];
      EXPECT_EQ(dx.to_floats(), dx_expected);
    }
  }
}

TEST(MaxPool2dTest, TiesPickTheFirstMaximumAndNaNPropagates) {
  Context ctx = make_cpu_context(1, 1);
  // one 4x4 plane, 2x2 windows: all equal; max repeated at later positions; a NaN; -inf only
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_floats({1, 1, 1, 3,     //
                                        1, 1, 3, 2,     //
                                        -inf, -inf, 5, nan,  //
                                        -inf, -inf, nan, 5},
                                       {1, 1, 4, 4});
  Tensor y, argmax;
  maxpool2d_forward(ctx, y, argmax, x, 2, 2);
  EXPECT_EQ(ints(argmax), (std::vector<int32_t>{0, 3, 8, 11}));
  const std::vector<float> yv = y.to_floats();
  EXPECT_EQ(yv[0], 1.0f);
  EXPECT_EQ(yv[1], 3.0f);
  EXPECT_EQ(yv[2], -inf);
  EXPECT_TRUE(std::isnan(yv[3]));

  // overlapping windows (3/1) that share their maximum: its gradient is the sum of both
  const Tensor flat = Tensor::from_floats({0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0}, {1, 1, 3, 4});
  maxpool2d_forward(ctx, y, argmax, flat, 3, 1);
  EXPECT_EQ(ints(argmax), (std::vector<int32_t>{5, 5}));
  Tensor dx;
  maxpool2d_backward(ctx, dx, Tensor::from_floats({2, 3}, {1, 1, 1, 2}), argmax, flat.shape());
  EXPECT_EQ(dx.to_floats(), (std::vector<float>{0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0}));
}

TEST(MaxPool2dTest, GradientOfInput) {
  Context ctx = make_cpu_context(2, 1);
  for (const Case& c : cases) {
    SCOPED_TRACE(case_name(c));
    // distinct values 0.05 apart (a shuffled ramp): a +-eps step (1e-2) never changes a window's
    // maximum, so no compared element sits at a kink
    Tensor x = random_tensor({c.N, c.C, c.H, c.W}, 7);
    std::vector<std::pair<float, int64_t>> order;
    for (int64_t i = 0; i < x.numel(); ++i) order.push_back({x.data<float>()[i], i});
    std::sort(order.begin(), order.end());
    for (size_t rank = 0; rank < order.size(); ++rank) x.data<float>()[order[rank].second] = 0.05f * rank - 1.0f;
    Tensor y, argmax, dx;
    auto forward = [&] {
      maxpool2d_forward(ctx, y, argmax, x, c.kernel, c.stride);
      return y;
    };
    auto backward = [&](const Tensor& dy) {
      maxpool2d_backward(ctx, dx, dy, argmax, x.shape());
      return std::vector<Tensor>{dx};
    };
    // elements that no window chooses have gradient 0, which the check confirms as well
    check_gradients(forward, backward, {{"x", &x}});
  }
}

TEST(MaxPool2dTest, BackwardOverwritesStaleGradient) {
  Context ctx = make_cpu_context(2, 1);
  const Tensor x = random_tensor({2, 3, 6, 6}, 9);
  Tensor y, argmax, fresh;
  maxpool2d_forward(ctx, y, argmax, x, 2, 2);
  const Tensor dy = random_tensor(y.shape(), 10);
  maxpool2d_backward(ctx, fresh, dy, argmax, x.shape());
  Tensor reused = random_tensor(x.shape(), 11);
  maxpool2d_backward(ctx, reused, dy, argmax, x.shape());
  EXPECT_EQ(reused.to_floats(), fresh.to_floats());
}

TEST(MaxPool2dTest, RejectsInvalidInputs) {
  Context ctx = make_cpu_context(1, 1);
  const Tensor x = random_tensor({2, 3, 4, 5}, 12);
  Tensor y, argmax, dx;
  expect_invalid_input([&] { maxpool2d_forward(ctx, y, argmax, random_tensor({3, 4, 5}, 1), 2, 2); },
                       {"maxpool2d_forward", "x", "4 dims"});
  expect_invalid_input([&] { maxpool2d_forward(ctx, y, argmax, x, 5, 1); }, {"kernel 5x5", "larger", "x"});
  expect_invalid_input([&] { maxpool2d_forward(ctx, y, argmax, x, 0, 1); }, {"kernel"});
  expect_invalid_input([&] { maxpool2d_forward(ctx, y, argmax, x, 2, 0); }, {"stride"});
  static float fake[2 * 3 * 4 * 5];
  const Tensor on_gpu(Storage(fake, sizeof(fake), Device::cuda(0), [](void*) {}), 0, {2, 3, 4, 5}, DType::f32);
  expect_invalid_input([&] { maxpool2d_forward(ctx, y, argmax, on_gpu, 2, 2); },
                       {"maxpool2d_forward: built without CUDA (tensor on cuda:0)"});

  maxpool2d_forward(ctx, y, argmax, x, 2, 2);  // y, argmax: [2, 3, 2, 2]
  expect_invalid_input([&] { maxpool2d_backward(ctx, dx, random_tensor({2, 3, 2, 3}, 1), argmax, x.shape()); },
                       {"maxpool2d_backward", "argmax", "dy"});
  expect_invalid_input([&] { maxpool2d_backward(ctx, dx, y, y, x.shape()); }, {"argmax", "i32"});
  expect_invalid_input([&] { maxpool2d_backward(ctx, dx, y, argmax, {2, 4, 4, 5}); }, {"x_shape", "[2, 4, 4, 5]"});
  expect_invalid_input([&] { maxpool2d_backward(ctx, dx, y, argmax, {2, 3, 20}); }, {"x_shape"});
  // an argmax from a larger input does not fit these planes
  const Tensor big = random_tensor({2, 3, 8, 8}, 13);
  Tensor y_big, argmax_big;
  maxpool2d_forward(ctx, y_big, argmax_big, big, 4, 4);  // [2, 3, 2, 2], indices up to 63
  expect_invalid_input([&] { maxpool2d_backward(ctx, dx, y_big, argmax_big, {2, 3, 3, 3}); },
                       {"argmax", "outside"});
}

}  // namespace
}  // namespace joule
