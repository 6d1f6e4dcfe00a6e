// Learning-rate schedules: endpoints, warm-up ramp, cosine midpoint, monotonicity, validation.
#include <gtest/gtest.h>

#include "ops/lr_schedule.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

LrSchedule cosine(float base, int64_t warmup, int64_t total, float ratio) {
  return {.kind = ScheduleKind::warmup_cosine, .base_lr = base, .warmup_steps = warmup, .total_steps = total,
          .min_lr_ratio = ratio};
}

TEST(LrSchedule, ConstantIsBaseEverywhere) {
  const LrSchedule s{.base_lr = 0.05f};
  for (int64_t step : {0, 1, 1000, 1000000}) EXPECT_EQ(lr_at(s, step), 0.05f);
}

TEST(LrSchedule, WarmupRampsLinearlyToBase) {
  const LrSchedule s = cosine(0.4f, 8, 100, 0.1f);
  EXPECT_FLOAT_EQ(lr_at(s, 0), 0.05f);  // (0 + 1) / 8 of base
  EXPECT_FLOAT_EQ(lr_at(s, 3), 0.2f);
  EXPECT_FLOAT_EQ(lr_at(s, 7), 0.4f);
  for (int64_t step = 1; step < 8; ++step) EXPECT_GT(lr_at(s, step), lr_at(s, step - 1));
}

TEST(LrSchedule, CosineEndpointsAndMidpoint) {
  const LrSchedule s = cosine(1.0f, 10, 111, 0.2f);  // decay over steps 10..110, span 100
  EXPECT_FLOAT_EQ(lr_at(s, 10), 1.0f);
  EXPECT_FLOAT_EQ(lr_at(s, 60), 0.6f);    // halfway: (base + min) / 2
  EXPECT_FLOAT_EQ(lr_at(s, 35), 0.2f + 0.8f * 0.5f * (1.0f + 0.70710678f));  // a quarter: cos(pi/4)
  EXPECT_FLOAT_EQ(lr_at(s, 110), 0.2f);   // the last step reaches the minimum
  EXPECT_FLOAT_EQ(lr_at(s, 5000), 0.2f);  // and it stays there
  for (int64_t step = 11; step <= 110; ++step) EXPECT_LT(lr_at(s, step), lr_at(s, step - 1));
}

TEST(LrSchedule, NoWarmupStartsAtBaseAndDecaysToZero) {
  const LrSchedule s = cosine(0.3f, 0, 5, 0.0f);
  EXPECT_FLOAT_EQ(lr_at(s, 0), 0.3f);
  EXPECT_FLOAT_EQ(lr_at(s, 2), 0.15f);
  EXPECT_EQ(lr_at(s, 4), 0.0f);
}

TEST(LrSchedule, RejectsInvalidFields) {
  testing::expect_invalid_input([] { lr_at(cosine(0.1f, 11, 10, 0.0f), 0); }, {"warmup_steps", "11"});
  testing::expect_invalid_input([] { lr_at(cosine(0.1f, 0, 0, 0.0f), 0); }, {"total_steps"});
  testing::expect_invalid_input([] { lr_at(cosine(0.1f, 0, 10, 1.5f), 0); }, {"min_lr_ratio"});
  testing::expect_invalid_input([] { lr_at(cosine(-0.1f, 0, 10, 0.0f), 0); }, {"base_lr"});
  testing::expect_invalid_input([] { lr_at(LrSchedule{.base_lr = 0.1f}, -1); }, {"step"});
}

// warmup_stable_decay: the ramp, the full rate through the stable phase, then a straight line from
// base to the floor over the last ⌈decay_fraction · (total − warmup)⌉ steps.
TEST(LrSchedule, WarmupStableDecayHoldsThenDecaysLinearly) {
  LrSchedule s;
  s.kind = ScheduleKind::warmup_stable_decay;
  s.base_lr = 1.0f;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.min_lr_ratio = 0.1f;
  s.decay_fraction = 0.2f;  // 20 decay steps: 90 .. 109
  EXPECT_FLOAT_EQ(lr_at(s, 4), 0.5f);
  EXPECT_FLOAT_EQ(lr_at(s, 10), 1.0f);
  EXPECT_FLOAT_EQ(lr_at(s, 89), 1.0f);
  EXPECT_FLOAT_EQ(lr_at(s, 90), 1.0f);  // the decay starts at base
  EXPECT_NEAR(lr_at(s, 99), 0.1f + 0.9f * (1.0f - 9.0f / 19.0f), 1e-6);
  EXPECT_FLOAT_EQ(lr_at(s, 109), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(s, 500), 0.1f);
  for (int64_t step = 91; step < 110; ++step) EXPECT_LT(lr_at(s, step), lr_at(s, step - 1)) << step;
  s.decay_fraction = 0.0f;
  EXPECT_THROW(lr_at(s, 0), Error);
}

}  // namespace
}  // namespace joule
