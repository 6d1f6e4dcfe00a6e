#include "tests/support/gradcheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/rng.h"

namespace joule::testing {

Tensor random_tensor(const Shape& shape, uint64_t seed, float low, float high) {
  Tensor t = Tensor::empty(shape);
  CounterRng rng(seed, 0, 0, RngStream::test);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = low + (high - low) * rng.uniform();
  return t;
}

double max_relative_difference(const Tensor& a, const Tensor& b, double floor) {
  EXPECT_EQ(a.shape(), b.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  double max_diff = 0, max_ref = floor;
  for (int64_t i = 0; i < a.numel(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(pa[i]) - pb[i]));
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(pb[i])));
  }
  return max_diff / max_ref;
}

namespace {
double weighted_sum(const Tensor& y, const Tensor& r) {
  const float* py = y.data<float>();
  const float* pr = r.data<float>();
  double s = 0;
  for (int64_t i = 0; i < y.numel(); ++i) s += static_cast<double>(py[i]) * pr[i];
  return s;
}
}  // namespace

void check_gradients(const std::function<Tensor()>& forward,
                     const std::function<std::vector<Tensor>(const Tensor& dy)>& backward,
                     const std::vector<GradCheckInput>& inputs, const GradCheckOptions& options) {
  Tensor y0 = forward();
  Tensor r = random_tensor(y0.shape(), options.seed, -1.0f, 1.0f);
  std::vector<Tensor> analytic = backward(r);
  ASSERT_EQ(analytic.size(), inputs.size()) << "backward must return one gradient per input";

  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = *inputs[k].value;
    ASSERT_EQ(analytic[k].shape(), x.shape()) << "gradient of " << inputs[k].name;
    // copy the analytic gradient: later forward/backward calls may overwrite shared buffers
    std::vector<float> grad = analytic[k].to_floats();
    float* px = x.data<float>();
    const int64_t n = x.numel();
    const int64_t count = std::min<int64_t>(n, options.max_elements_per_input);
    int checked = 0;
    for (int64_t j = 0; j < count; ++j) {
      const int64_t i = count == n ? j : j * (n - 1) / std::max<int64_t>(count - 1, 1);
      const float original = px[i];
      px[i] = static_cast<float>(original + options.eps);
      const double plus = weighted_sum(forward(), r);
      px[i] = static_cast<float>(original - options.eps);
      const double minus = weighted_sum(forward(), r);
      px[i] = original;
      const double center = weighted_sum(forward(), r);
      const double right = (plus - center) / options.eps, left = (center - minus) / options.eps;
      const double scale = std::max({std::fabs(right), std::fabs(left), 1.0});
      if (std::fabs(right - left) > options.kink_tolerance * scale) continue;  // a kink: not differentiable here
      const double numeric = (plus - minus) / (2 * options.eps);
      const double tolerance = options.atol + options.rtol * std::max(std::fabs(numeric), std::fabs(static_cast<double>(grad[i])));
      EXPECT_NEAR(grad[i], numeric, tolerance) << inputs[k].name << "[" << i << "] analytic vs numeric";
      ++checked;
    }
    EXPECT_GT(checked, count / 2) << inputs[k].name << ": most elements were skipped as kinks";
  }
}

}  // namespace joule::testing
