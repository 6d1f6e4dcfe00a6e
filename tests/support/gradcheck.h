// The one finite-difference gradient checker every op test uses (DESIGN.md §4.3).
//
// For an op y = f(x1, x2, ...) it checks the analytic input gradients for the scalar
// L = sum_i r_i * y_i with fixed random r (so every output element matters), against central
// differences (L(x + eps) - L(x - eps)) / 2eps. The sums run in double; the op itself runs in f32
// (the only CPU dtype), which is why eps is large (1e-2) and the tolerance is 1e-2 relative:
// f32 rounding of a forward pass over O(1) values perturbs L by ~1e-6, i.e. ~1e-4 after dividing
// by 2eps, far below that tolerance.
// Kinks (relu at 0, max-pool ties) are skipped: an element whose one-sided differences disagree by
// more than `kink_tolerance` relative is not compared.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace joule::testing {

struct GradCheckInput {
  std::string name;
  Tensor* value;  // perturbed in place (restored afterwards)
};

struct GradCheckOptions {
  double eps = 1e-2;
  double rtol = 1e-2;
  double atol = 1e-3;
  double kink_tolerance = 0.1;
  int max_elements_per_input = 48;  // checked elements per input, spread evenly
  uint64_t seed = 7;
};

// forward(): runs the op on the current input values and returns its output (f32).
//   Each call must be deterministic (re-seed any randomness per call).
// backward(dy): runs the op's backward for upstream gradient dy (same shape as the output) and
//   returns the analytic gradient of each input, in the order of `inputs`.
// Reports failures through gtest (EXPECT_*), naming the input, element and both values.
void check_gradients(const std::function<Tensor()>& forward,
                     const std::function<std::vector<Tensor>(const Tensor& dy)>& backward,
                     const std::vector<GradCheckInput>& inputs, const GradCheckOptions& options = {});

// A CPU f32 tensor of the given shape, uniform in [low, high), from a seeded counter RNG.
Tensor random_tensor(const Shape& shape, uint64_t seed, float low = -1.0f, float high = 1.0f);

// Largest relative difference max|a-b| / max(max|b|, floor) between two tensors of equal shape.
double max_relative_difference(const Tensor& a, const Tensor& b, double floor = 1e-6);

}  // namespace joule::testing
