// Dropout: identity in evaluation, kept elements scaled by 1/(1−p), the mask as a pure function of
// (seed, rank, step, site, element) — same for 1 and 2 threads, for any tensor length, for equal
// seeds; different across sites, steps, ranks and seeds — keep fraction within a binomial
// tolerance, gradient check with a fixed context, backward (in place), errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/context.h"
#include "ops/dropout.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;
using testing::random_tensor;

std::vector<uint8_t> mask_bytes(const Tensor& mask) {
  const uint8_t* p = mask.data<uint8_t>();
  return std::vector<uint8_t>(p, p + mask.numel());
}

// The mask of a forward pass over `n` elements.
std::vector<uint8_t> draw_mask(const Context& base, int threads, int64_t n, float p, uint32_t site) {
  Context ctx = make_cpu_context(threads, base.seed);
  ctx.rank = base.rank;
  ctx.step = base.step;
  Tensor x = Tensor::zeros({n}), y, mask;
  dropout_forward(ctx, y, mask, x, p, site, true);
  return mask_bytes(mask);
}

int64_t count_differences(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int64_t d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += a[i] != b[i];
  return d;
}

constexpr int64_t kLarge = 100000;  // > 32768: the threaded path, 25 chunks

}  // namespace

TEST(Dropout, EvaluationAndZeroRateAreIdentity) {
  Context ctx = make_cpu_context(1, 3);
  Tensor x = random_tensor({4, 5}, 1), y, mask;
  dropout_forward(ctx, y, mask, x, 0.5f, 0, /*training=*/false);
  EXPECT_EQ(y.to_floats(), x.to_floats());
  EXPECT_EQ(mask.dtype(), DType::u8);
  EXPECT_EQ(mask_bytes(mask), std::vector<uint8_t>(20, 1));
  Tensor y2, mask2;
  dropout_forward(ctx, y2, mask2, x, 0.0f, 0, /*training=*/true);
  EXPECT_EQ(y2.to_floats(), x.to_floats());
  EXPECT_EQ(mask_bytes(mask2), std::vector<uint8_t>(20, 1));
}

TEST(Dropout, KeptElementsScaledDroppedZeroed) {
  Context ctx = make_cpu_context(1, 3);
  const float p = 0.25f;
  Tensor x = random_tensor({8, 16}, 2, 0.5f, 1.5f), y, mask;
  dropout_forward(ctx, y, mask, x, p, 1, true);
  ASSERT_EQ(y.shape(), x.shape());
  ASSERT_EQ(mask.shape(), x.shape());
  int kept = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const uint8_t m = mask.data<uint8_t>()[i];
    ASSERT_TRUE(m == 0 || m == 1) << i;
    kept += m;
    EXPECT_FLOAT_EQ(y.data<float>()[i], m ? x.data<float>()[i] / (1 - p) : 0.0f) << i;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, x.numel());
}

TEST(Dropout, MaskIdenticalAcrossThreadCountsAndLengths) {
  Context base = make_cpu_context(1, 42);
  base.step = 17;
  const std::vector<uint8_t> one = draw_mask(base, 1, kLarge, 0.5f, 3);
  const std::vector<uint8_t> two = draw_mask(base, 2, kLarge, 0.5f, 3);
  EXPECT_EQ(one, two);
  // element i's draw does not depend on how many elements follow it
  const std::vector<uint8_t> prefix = draw_mask(base, 2, 5000, 0.5f, 3);
  EXPECT_EQ(prefix, std::vector<uint8_t>(one.begin(), one.begin() + 5000));
  // and equal seeds give equal masks
  EXPECT_EQ(draw_mask(base, 2, kLarge, 0.5f, 3), one);
}

TEST(Dropout, DifferentSitesStepsRanksAndSeedsGiveDifferentMasks) {
  Context base = make_cpu_context(1, 42);
  const int64_t n = 4096;
  const std::vector<uint8_t> reference = draw_mask(base, 1, n, 0.5f, 0);
  // independent masks at p = 0.5 differ in half the elements: n/2 ± 32
  auto expect_independent = [&](const std::vector<uint8_t>& other, const char* what) {
    EXPECT_NEAR(static_cast<double>(count_differences(reference, other)), n / 2.0, 6 * 32.0) << what;
  };
  expect_independent(draw_mask(base, 1, n, 0.5f, 1), "site 1");
  Context other = base;
  other.step = 1;
  expect_independent(draw_mask(other, 1, n, 0.5f, 0), "step 1");
  other = base;
  other.rank = 1;
  expect_independent(draw_mask(other, 1, n, 0.5f, 0), "rank 1");
  other = base;
  other.seed = 43;
  expect_independent(draw_mask(other, 1, n, 0.5f, 0), "seed 43");
}

TEST(Dropout, KeepFractionWithinBinomialTolerance) {
  Context base = make_cpu_context(1, 5);
  for (float p : {0.1f, 0.3f, 0.5f, 0.9f}) {
    const std::vector<uint8_t> mask = draw_mask(base, 2, kLarge, p, 7);
    int64_t kept = 0;
    for (uint8_t m : mask) kept += m;
    const double expected = kLarge * (1.0 - p), sd = std::sqrt(kLarge * p * (1.0 - p));
    EXPECT_NEAR(static_cast<double>(kept), expected, 5 * sd) << "p = " << p;  // 5 sigma: never by chance
  }
}

TEST(Dropout, GradientCheck) {
  Context ctx = make_cpu_context(1, 9);  // fixed: every forward call re-derives the same mask
  const float p = 0.4f;
  Tensor x = random_tensor({5, 6}, 3), y, mask, dx;
  testing::check_gradients(
      [&] {
        dropout_forward(ctx, y, mask, x, p, 2, true);
        return y;
      },
      [&](const Tensor& dy) {
        dropout_backward(ctx, dx, dy, mask, p);
        return std::vector<Tensor>{dx};
      },
      {{"x", &x}});
}

TEST(Dropout, BackwardAppliesMaskAndScaleInPlace) {
  Context ctx = make_cpu_context(1, 1);
  Tensor mask = Tensor::empty({4}, DType::u8);
  const uint8_t bits[4] = {1, 0, 0, 1};
  for (int i = 0; i < 4; ++i) mask.data<uint8_t>()[i] = bits[i];
  Tensor dy = Tensor::from_floats({1, 2, 3, -4}, {4}), dx;
  dropout_backward(ctx, dx, dy, mask, 0.5f);
  EXPECT_EQ(dx.to_floats(), (std::vector<float>{2, 0, 0, -8}));
  dropout_backward(ctx, dy, dy, mask, 0.5f);
  EXPECT_EQ(dy.to_floats(), (std::vector<float>{2, 0, 0, -8}));
}

TEST(Dropout, RejectsBadRatesDtypesShapesAndDevices) {
  Context ctx = make_cpu_context(1, 1);
  Tensor x = random_tensor({3}, 1), y, mask, dx;
  expect_invalid_input([&] { dropout_forward(ctx, y, mask, x, 1.0f, 0, true); },
                       "dropout_forward: p must be in [0, 1), got 1");
  expect_invalid_input([&] { dropout_forward(ctx, y, mask, x, -0.1f, 0, false); },
                       "dropout_forward: p must be in [0, 1)");
  expect_invalid_input([&] { dropout_forward(ctx, y, mask, x, std::numeric_limits<float>::quiet_NaN(), 0, true); },
                       "dropout_forward: p must be in [0, 1)");
  expect_invalid_input([&] { dropout_forward(ctx, y, mask, Tensor::zeros({3}, DType::bf16), 0.5f, 0, true); },
                       "dropout_forward: x must be f32");
  expect_invalid_input([&] { dropout_forward(ctx, y, mask, fake_cuda_tensor({3}), 0.5f, 0, true); },
                       "dropout_forward: built without CUDA (tensor on cuda:0)");
  expect_invalid_input([&] { dropout_backward(ctx, dx, x, Tensor::zeros({3}), 0.5f); },
                       "dropout_backward: mask must be u8");
  expect_invalid_input([&] { dropout_backward(ctx, dx, x, Tensor::zeros({4}, DType::u8), 0.5f); },
                       "dropout_backward: mask must have the shape of dy = [3], got u8[4] on cpu");
  expect_invalid_input([&] { dropout_backward(ctx, dx, x, Tensor::zeros({3}, DType::u8), 1.5f); },
                       "dropout_backward: p must be in [0, 1)");
}

}  // namespace joule
