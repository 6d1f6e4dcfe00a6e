// Softmax + cross-entropy: probabilities and summed loss against double loops (serial and threaded
// sizes), closed forms (uniform logits, logits at ±1e4), gradient check of the loss, backward
// in place, count_correct with ties, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/context.h"
#include "ops/softmax_cross_entropy.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;
using testing::random_tensor;

Tensor labels_tensor(const std::vector<int32_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::i32);
  for (size_t i = 0; i < values.size(); ++i) t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
  return t;
}

Tensor cycling_labels(int64_t N, int64_t C) {
  std::vector<int32_t> v(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) v[n] = static_cast<int32_t>((n * 7 + 3) % C);
  return labels_tensor(v);
}

void check_against_double_loops(int64_t N, int64_t C, int threads) {
  Context ctx = make_cpu_context(threads, 1);
  Tensor logits = random_tensor({N, C}, 5, -4.0f, 4.0f), labels = cycling_labels(N, C), probs;
  const double loss = softmax_cross_entropy_forward(ctx, probs, logits, labels);
  ASSERT_EQ(probs.shape(), (Shape{N, C}));
  const float *pz = logits.data<float>(), *pp = probs.data<float>();
  double want_loss = 0;
  for (int64_t n = 0; n < N; ++n) {
    double max = pz[n * C];
    for (int64_t c = 1; c < C; ++c) max = std::max(max, static_cast<double>(pz[n * C + c]));
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(pz[n * C + c] - max);
    for (int64_t c = 0; c < C; ++c) {
      ASSERT_NEAR(pp[n * C + c], std::exp(pz[n * C + c] - max) / sum, 1e-6) << n << ", " << c;
    }
    want_loss += std::log(sum) + max - pz[n * C + labels.data<int32_t>()[n]];
  }
  EXPECT_NEAR(loss, want_loss, 1e-6 * std::fabs(want_loss));  // f32 exp/sum: ~1e-7 relative per row
}

}  // namespace

TEST(SoftmaxCrossEntropy, ForwardMatchesDoubleLoops) {
  check_against_double_loops(4, 5, 1);
  check_against_double_loops(300, 130, 2);  // > 32768 elements: rows split over threads
}

TEST(SoftmaxCrossEntropy, UniformLogitsGiveLogC) {
  Context ctx = make_cpu_context(1, 1);
  Tensor logits = Tensor::zeros({6, 10}), probs;
  const double loss = softmax_cross_entropy_forward(ctx, probs, logits, cycling_labels(6, 10));
  EXPECT_NEAR(loss, 6 * std::log(10.0), 1e-5);
  for (float p : probs.to_floats()) EXPECT_FLOAT_EQ(p, 0.1f);
}

TEST(SoftmaxCrossEntropy, StableAtLogitsOfPlusMinus1e4) {
  Context ctx = make_cpu_context(1, 1);
  Tensor logits = Tensor::from_floats({1e4f, -1e4f, 0.0f,  //
                                       1e4f, 1e4f, -1e4f,  //
                                       -1e4f, -1e4f, -1e4f},
                                      {3, 3});
  Tensor probs;
  const double loss = softmax_cross_entropy_forward(ctx, probs, logits, labels_tensor({1, 0, 2}));
  // row 0: log(1 + e^-1e4 + e^-2e4) + 1e4 + 1e4 = 2e4; row 1: log 2; row 2: log 3
  ASSERT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, 2e4 + std::log(2.0) + std::log(3.0), 1e-3);
  const std::vector<float> p = probs.to_floats();
  const std::vector<float> want{1, 0, 0, 0.5f, 0.5f, 0, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f};
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], want[i], 1e-7) << i;

  Tensor dlogits;
  softmax_cross_entropy_backward(ctx, dlogits, probs, labels_tensor({1, 0, 2}), 1.0f);
  for (float g : dlogits.to_floats()) EXPECT_TRUE(std::isfinite(g));
  EXPECT_FLOAT_EQ(dlogits.data<float>()[1], -1.0f);
}

TEST(SoftmaxCrossEntropy, GradientCheck) {
  Context ctx = make_cpu_context(1, 1);
  Tensor logits = random_tensor({4, 6}, 8, -2.0f, 2.0f), labels = cycling_labels(4, 6), probs, dlogits;
  Tensor loss_out = Tensor::empty({1});
  testing::check_gradients(
      [&] {
        loss_out.data<float>()[0] = static_cast<float>(softmax_cross_entropy_forward(ctx, probs, logits, labels));
        return loss_out;
      },
      [&](const Tensor& dloss) {  // the scalar loss's upstream gradient becomes `scale`
        softmax_cross_entropy_backward(ctx, dlogits, probs, labels, dloss.data<float>()[0]);
        return std::vector<Tensor>{dlogits};
      },
      {{"logits", &logits}});
}

TEST(SoftmaxCrossEntropy, BackwardIsScaledProbsMinusOneHotAndWorksInPlace) {
  Context ctx = make_cpu_context(1, 1);
  Tensor logits = random_tensor({3, 4}, 9), labels = labels_tensor({3, 0, 1}), probs, dlogits;
  softmax_cross_entropy_forward(ctx, probs, logits, labels);
  softmax_cross_entropy_backward(ctx, dlogits, probs, labels, 0.25f);
  const std::vector<float> p = probs.to_floats(), d = dlogits.to_floats();
  for (int n = 0; n < 3; ++n) {
    for (int c = 0; c < 4; ++c) {
      const double onehot = c == labels.data<int32_t>()[n] ? 1.0 : 0.0;
      EXPECT_NEAR(d[n * 4 + c], (p[n * 4 + c] - onehot) * 0.25, 1e-7);
    }
  }
  softmax_cross_entropy_backward(ctx, probs, probs, labels, 0.25f);  // in place
  EXPECT_EQ(probs.to_floats(), d);
}

TEST(SoftmaxCrossEntropy, CountCorrectTakesFirstMaximumOnTies) {
  Tensor logits = Tensor::from_floats({1, 3, 3,   //
                                       1, 3, 3,   //
                                       5, -1, 2,  //
                                       0, 0, 0,   //
                                       -2, -1, -3},
                                      {5, 3});
  EXPECT_EQ(count_correct(logits, labels_tensor({1, 2, 0, 0, 2})), 3);
  EXPECT_EQ(count_correct(logits, labels_tensor({2, 1, 1, 1, 1})), 2);
}

TEST(SoftmaxCrossEntropy, RejectsBadLabelsShapesAndDevices) {
  Context ctx = make_cpu_context(1, 1);
  Tensor logits = random_tensor({4, 5}, 1), probs, dlogits;
  expect_invalid_input([&] { softmax_cross_entropy_forward(ctx, probs, logits, labels_tensor({0, 1, 5, 2})); },
                       "softmax_cross_entropy_forward: labels[2] = 5 is outside [0, 5)");
  expect_invalid_input([&] { softmax_cross_entropy_forward(ctx, probs, logits, labels_tensor({0, -1, 3, 2})); },
                       "labels[1] = -1 is outside [0, 5)");
  expect_invalid_input([&] { softmax_cross_entropy_forward(ctx, probs, logits, labels_tensor({0, 1, 2})); },
                       "softmax_cross_entropy_forward: labels must be [N] = [4], got i32[3] on cpu");
  expect_invalid_input([&] { softmax_cross_entropy_forward(ctx, probs, logits, Tensor::zeros({4})); },
                       "softmax_cross_entropy_forward: labels must be i32");
  expect_invalid_input([&] { softmax_cross_entropy_forward(ctx, probs, random_tensor({20}, 1), labels_tensor({0})); },
                       "softmax_cross_entropy_forward: logits must have 2 dims");
  const Tensor labels4 = labels_tensor({0, 1, 2, 3});
  expect_invalid_input([&] { softmax_cross_entropy_forward(ctx, probs, fake_cuda_tensor({4, 5}), labels4); },
                       "softmax_cross_entropy_forward: built without CUDA (tensor on cuda:0)");
  expect_invalid_input([&] { softmax_cross_entropy_backward(ctx, dlogits, logits, labels_tensor({0, 1, 2, 9}), 1.0f); },
                       "softmax_cross_entropy_backward: labels[3] = 9 is outside [0, 5)");
  expect_invalid_input([&] { count_correct(logits, labels_tensor({0, 1})); },
                       "count_correct: labels must be [N] = [4]");
}

}  // namespace joule
