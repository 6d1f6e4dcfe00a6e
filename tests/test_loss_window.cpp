// LossWindow: the mean of a window's step losses and its standard error from successive differences.
#include "energy/loss_window.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace joule::energy {
namespace {

TEST(LossWindow, StandardErrorOfIndependentStepLossesIsSigmaOverRootN) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.05);
  LossWindow w;
  const int n = 4000;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    const double loss = 0.5 + noise(rng);
    w.add(loss);
    sum += loss;
  }
  EXPECT_EQ(w.steps(), n);
  EXPECT_DOUBLE_EQ(w.mean(), sum / n);
  EXPECT_NEAR(w.sem(), 0.05 / std::sqrt(double(n)), 0.05 * 0.05 / std::sqrt(double(n)));  // within 5%
}

// A falling loss within the window (0.6 → 0.4 over its 40 steps) would double a plain standard
// deviation of steps whose noise is 0.03; successive differences see the noise, not the trend.
TEST(LossWindow, ATrendWithinTheWindowBarelyInflatesTheError) {
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 0.03);
  double ratio_sum = 0;
  const int trials = 200, n = 40;
  for (int trial = 0; trial < trials; ++trial) {
    LossWindow w;
    for (int i = 0; i < n; ++i) w.add(0.6 - 0.2 * i / (n - 1) + noise(rng));
    ratio_sum += w.sem() / (0.03 / std::sqrt(double(n)));
  }
  EXPECT_NEAR(ratio_sum / trials, 1.0, 0.1);
}

TEST(LossWindow, UnknownBelowTwoStepsAndResetEmpties) {
  LossWindow w;
  EXPECT_TRUE(std::isnan(w.mean()));
  EXPECT_EQ(w.sem(), 0);
  w.add(0.7);
  EXPECT_EQ(w.mean(), 0.7);
  EXPECT_EQ(w.sem(), 0);
  w.add(0.5);
  EXPECT_GT(w.sem(), 0);
  w.reset();
  EXPECT_EQ(w.steps(), 0);
  EXPECT_EQ(w.sem(), 0);
}

}  // namespace
}  // namespace joule::energy
