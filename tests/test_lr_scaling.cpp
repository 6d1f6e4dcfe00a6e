// Learning-rate scaling with the batch (train.lr_scaling) and AdaScale's gain from the gradient
// statistics the ranks measure; the train-state protobuf round trip.
#include "ops/lr_scaling.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/proto/train_state.pb.h"
#include "core/rng.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

TEST(LrScaling, FixedRulesFollowTheBatchRatio) {
  const GradientNoiseEstimate none;
  EXPECT_DOUBLE_EQ(lr_scale(LrScaling::none, 512, 128, none), 1.0);
  EXPECT_DOUBLE_EQ(lr_scale(LrScaling::sqrt, 512, 128, none), 2.0);
  EXPECT_DOUBLE_EQ(lr_scale(LrScaling::linear, 512, 128, none), 4.0);
  EXPECT_DOUBLE_EQ(lr_scale(LrScaling::linear, 64, 128, none), 0.5);
  EXPECT_DOUBLE_EQ(schedule_progress(LrScaling::linear, 512, 128, none), 512.0) << "samples, whatever the rule";
  EXPECT_EQ(parse_lr_scaling("adascale"), LrScaling::adascale);
  testing::expect_invalid_input([] { parse_lr_scaling("cubic"); }, "train.lr_scaling = \"cubic\"");
}

// Synthetic per-sample gradients g_i = μ + noise (dimension D, per-coordinate variance v): the
// estimator recovers |μ|² and tr Σ = D·v from per-rank and global batch means, and the gain sits
// between 1 (noise-free) and the batch ratio (pure noise).
TEST(LrScaling, NoiseEstimateRecoversTheGradientStatistics) {
  const int ranks = 4, local = 32, dims = 200;
  const double mu = 0.05, v = 0.25;  // |μ|² = 200·0.0025 = 0.5, tr Σ = 50
  CounterRng rng(17, 0, 0, RngStream::test);
  GradientNoiseEstimate estimate(0.99);
  for (int step = 0; step < 1500; ++step) {
    std::vector<double> global(dims, 0.0);
    double local_sq = 0;
    for (int r = 0; r < ranks; ++r) {
      std::vector<double> mean(dims, 0.0);
      for (int i = 0; i < local; ++i)
        for (int d = 0; d < dims; ++d) mean[d] += (mu + std::sqrt(v) * rng.normal()) / local;
      for (int d = 0; d < dims; ++d) {
        local_sq += mean[d] * mean[d] / ranks;
        global[d] += mean[d] / ranks;
      }
    }
    double global_sq = 0;
    for (double g : global) global_sq += g * g;
    estimate.observe(local_sq, global_sq, ranks, local);
  }
  EXPECT_NEAR(estimate.gradient_sq(), 0.5, 0.05);
  EXPECT_NEAR(estimate.variance_trace(), 50.0, 5.0);
  EXPECT_NEAR(estimate.noise_scale(), 100.0, 15.0);
  const double gain = lr_scale(LrScaling::adascale, 512, 128, estimate);
  EXPECT_NEAR(gain, (50.0 / 128 + 0.5) / (50.0 / 512 + 0.5), 0.1);
  EXPECT_GT(gain, 1.0);
  EXPECT_LT(gain, 4.0);
  EXPECT_NEAR(schedule_progress(LrScaling::adascale, 512, 128, estimate), gain * 128, 1e-9);
}

TEST(LrScaling, OneRankGivesNoEstimateAndGainOne) {
  GradientNoiseEstimate estimate;
  estimate.observe(1.0, 0.5, 1, 128);
  EXPECT_FALSE(estimate.ready());
  EXPECT_DOUBLE_EQ(lr_scale(LrScaling::adascale, 1024, 128, estimate), 1.0);
}

TEST(TrainState, ProtobufRoundTripKeepsEveryField) {
  pb::TrainState s;
  s.set_step(41);
  s.set_epoch(2);
  s.set_epoch_offset(2560);
  s.set_samples(123456);
  s.set_progress(98765.5);
  s.set_best_accuracy(0.875);
  s.set_last_accuracy(0.86);
  s.set_last_eval_step(40);
  s.set_stop_reason(pb::interrupted);
  s.set_skipped_steps(1);
  pb::Knobs k;
  k.set_global_batch(512);
  k.set_micro_batches(4);
  k.set_precision("bf16");
  k.add_sm_clock_mhz(1410);
  k.add_sm_clock_mhz(1200);
  pb::TrainState s2;
  pb::Knobs k2;
  ASSERT_TRUE(s2.ParseFromString(s.SerializeAsString()));
  ASSERT_TRUE(k2.ParseFromString(k.SerializeAsString()));
  EXPECT_EQ(s2.SerializeAsString(), s.SerializeAsString());
  EXPECT_EQ(s2.epoch_offset(), 2560u);
  EXPECT_EQ(s2.stop_reason(), pb::interrupted);
  EXPECT_EQ(k2.sm_clock_mhz(1), 1200u);
  EXPECT_EQ(k2.precision(), "bf16");
}

}  // namespace
}  // namespace joule
