// Linear: gradient check, forward/backward against double loops (at a size small enough for Eigen's
// coefficient-based product and at one that takes the GEMM and threaded bias-sum paths), gradient
// accumulation, and the contract's errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/context.h"
#include "ops/linear.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;
using testing::random_tensor;

struct Reference {
  std::vector<double> y, dx, dw, db;
};

// y = x·wᵀ + b and the gradients for upstream dy, in double.
Reference reference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy) {
  const int64_t N = x.size(0), IN = x.size(1), OUT = w.size(0);
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b.data<float>(), *pdy = dy.data<float>();
  Reference r{std::vector<double>(N * OUT), std::vector<double>(N * IN), std::vector<double>(OUT * IN),
              std::vector<double>(OUT)};
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < OUT; ++o) {
      double s = pb[o];
      for (int64_t i = 0; i < IN; ++i) s += static_cast<double>(px[n * IN + i]) * pw[o * IN + i];
      r.y[n * OUT + o] = s;
      const double g = pdy[n * OUT + o];
      r.db[o] += g;
      for (int64_t i = 0; i < IN; ++i) {
        r.dx[n * IN + i] += g * pw[o * IN + i];
        r.dw[o * IN + i] += g * px[n * IN + i];
      }
    }
  }
  return r;
}

void expect_close(const Tensor& actual, const std::vector<double>& expected, double tolerance, const char* what) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  const float* p = actual.data<float>();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(p[i], expected[i], tolerance) << what << "[" << i << "]";
  }
}

void check_against_reference(int threads, int64_t N, int64_t IN, int64_t OUT) {
  Context ctx = make_cpu_context(threads, 1);
  Tensor x = random_tensor({N, IN}, 1), w = random_tensor({OUT, IN}, 2), b = random_tensor({OUT}, 3);
  Tensor dy = random_tensor({N, OUT}, 4);
  Reference ref = reference(x, w, b, dy);
  Tensor y, dx, dw = Tensor::zeros({OUT, IN}), db = Tensor::zeros({OUT});
  linear_forward(ctx, y, x, w, b);
  linear_backward(ctx, &dx, dw, &db, dy, x, w, GradMode::overwrite);
  ASSERT_EQ(y.shape(), (Shape{N, OUT}));
  ASSERT_EQ(dx.shape(), (Shape{N, IN}));
  // f32 sums of up to ~260 products of O(1) values: ~1e-5 absolute rounding at worst
  expect_close(y, ref.y, 1e-4, "y");
  expect_close(dx, ref.dx, 1e-4, "dx");
  expect_close(dw, ref.dw, 1e-4, "dweight");
  expect_close(db, ref.db, 1e-4, "dbias");
}

}  // namespace

TEST(Linear, ForwardAndBackwardMatchDoubleLoopsSmall) { check_against_reference(1, 3, 5, 4); }

TEST(Linear, ForwardAndBackwardMatchDoubleLoopsAtGemmAndThreadedSizes) {
  check_against_reference(2, 17, 33, 9);
  check_against_reference(2, 260, 8, 130);  // N·OUT > 32768: the bias sum runs threaded
}

TEST(Linear, ForwardWithoutBias) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = Tensor::from_floats({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_floats({1, 0, -1, 0.5f, 0.5f, 0.5f}, {2, 3});
  Tensor y;
  linear_forward(ctx, y, x, w, Tensor());
  EXPECT_EQ(y.to_floats(), (std::vector<float>{-2, 3, -2, 7.5f}));
}

TEST(Linear, GradientCheck) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 5}, 11), w = random_tensor({4, 5}, 12), b = random_tensor({4}, 13);
  Tensor y, dx, dw = Tensor::zeros({4, 5}), db = Tensor::zeros({4});
  testing::check_gradients(
      [&] {
        linear_forward(ctx, y, x, w, b);
        return y;
      },
      [&](const Tensor& dy) {
        linear_backward(ctx, &dx, dw, &db, dy, x, w, GradMode::overwrite);
        return std::vector<Tensor>{dx, dw, db};
      },
      {{"x", &x}, {"weight", &w}, {"bias", &b}});
}

TEST(Linear, AccumulateAddsToExistingGradsAndOverwritesDx) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 5}, 21), w = random_tensor({4, 5}, 22), dy = random_tensor({3, 4}, 23);
  Tensor dx, dw = Tensor::zeros({4, 5}), db = Tensor::zeros({4});
  linear_backward(ctx, &dx, dw, &db, dy, x, w, GradMode::overwrite);
  const std::vector<float> dx1 = dx.to_floats(), dw1 = dw.to_floats(), db1 = db.to_floats();

  Tensor dw_acc = random_tensor({4, 5}, 24), db_acc = random_tensor({4}, 25);
  const std::vector<float> dw0 = dw_acc.to_floats(), db0 = db_acc.to_floats();
  Tensor dx_acc = Tensor::from_floats(std::vector<float>(15, 99.0f), {3, 5});
  linear_backward(ctx, &dx_acc, dw_acc, &db_acc, dy, x, w, GradMode::accumulate);
  for (size_t i = 0; i < dw0.size(); ++i) EXPECT_FLOAT_EQ(dw_acc.data<float>()[i], dw0[i] + dw1[i]) << i;
  for (size_t i = 0; i < db0.size(); ++i) EXPECT_FLOAT_EQ(db_acc.data<float>()[i], db0[i] + db1[i]) << i;
  EXPECT_EQ(dx_acc.to_floats(), dx1);  // the input gradient is always overwritten

  // overwrite replaces whatever the buffers held
  linear_backward(ctx, &dx_acc, dw_acc, &db_acc, dy, x, w, GradMode::overwrite);
  EXPECT_EQ(dw_acc.to_floats(), dw1);
  EXPECT_EQ(db_acc.to_floats(), db1);
}

TEST(Linear, BackwardWithoutInputOrBiasGradient) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 5}, 31), w = random_tensor({4, 5}, 32), dy = random_tensor({3, 4}, 33);
  Tensor dx, dw = Tensor::zeros({4, 5}), db = Tensor::zeros({4});
  linear_backward(ctx, &dx, dw, &db, dy, x, w, GradMode::overwrite);
  Tensor dw2 = Tensor::zeros({4, 5});
  linear_backward(ctx, nullptr, dw2, nullptr, dy, x, w, GradMode::overwrite);
  EXPECT_EQ(dw2.to_floats(), dw.to_floats());
}

TEST(Linear, RejectsBadShapesDtypesAndDevices) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3, 5}, 1), w = random_tensor({4, 5}, 2), b = random_tensor({4}, 3), y;
  expect_invalid_input([&] { linear_forward(ctx, y, x, random_tensor({4, 6}, 2), b); },
                       "linear_forward: weight must be [OUT, IN] = [4, 5], got f32[4, 6] on cpu");
  expect_invalid_input([&] { linear_forward(ctx, y, x, w, random_tensor({5}, 3)); },
                       "linear_forward: bias must be [OUT] = [4], got f32[5] on cpu");
  expect_invalid_input([&] { linear_forward(ctx, y, random_tensor({15}, 1), w, b); },
                       "linear_forward: x must have 2 dims");
  expect_invalid_input([&] { linear_forward(ctx, y, Tensor::zeros({3, 5}, DType::i32), w, b); },
                       "linear_forward: x must be f32");
  expect_invalid_input([&] { linear_forward(ctx, y, fake_cuda_tensor({3, 5}), w, b); },
                       "linear_forward: built without CUDA (tensor on cuda:0)");

  Tensor dy = random_tensor({3, 4}, 4), dx, dw = Tensor::zeros({4, 5}), db = Tensor::zeros({4});
  expect_invalid_input([&] { linear_backward(ctx, &dx, dw, &db, random_tensor({3, 5}, 4), x, w, GradMode::overwrite); },
                       "linear_backward: dy must be [N, OUT] = [3, 4], got f32[3, 5] on cpu");
  Tensor bad_dw = Tensor::zeros({5, 4});
  expect_invalid_input([&] { linear_backward(ctx, &dx, bad_dw, &db, dy, x, w, GradMode::overwrite); },
                       "linear_backward: dweight must be [OUT, IN] = [4, 5]");
  Tensor bad_db = Tensor::zeros({3});
  expect_invalid_input([&] { linear_backward(ctx, &dx, dw, &bad_db, dy, x, w, GradMode::accumulate); },
                       "linear_backward: dbias must be [OUT] = [4]");
  Tensor cuda_dw = fake_cuda_tensor({4, 5});
  expect_invalid_input([&] { linear_backward(ctx, &dx, cuda_dw, &db, dy, x, w, GradMode::overwrite); },
                       "linear_backward: built without CUDA (tensor on cuda:0)");
}

}  // namespace joule
