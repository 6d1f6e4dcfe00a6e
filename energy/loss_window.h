// LossWindow: the mean training loss of a window's steps and its standard error, for the knob
// policy's loss comparison (knob_policy.h, "Precision"). The step-to-step noise is estimated from
// successive differences, σ² ≈ Σ (x_i − x_{i−1})² / (2 (n − 1)) (von Neumann), which a trend
// within the window barely inflates (a falling loss would inflate a plain variance); the standard
// error of the mean is σ/√n. Non-finite losses are the caller's to skip.
#pragma once

#include <cmath>
#include <cstdint>

namespace joule::energy {

class LossWindow {
 public:
  void add(double loss) {
    if (steps_ > 0) diff_sq_sum_ += (loss - last_) * (loss - last_);
    last_ = loss;
    sum_ += loss;
    ++steps_;
  }
  int64_t steps() const { return steps_; }
  double mean() const { return steps_ > 0 ? sum_ / static_cast<double>(steps_) : NAN; }
  // 0 (unknown) below two steps
  double sem() const {
    if (steps_ < 2) return 0;
    const double n = static_cast<double>(steps_);
    return std::sqrt(diff_sq_sum_ / (2 * (n - 1)) / n);
  }
  void reset() { *this = LossWindow{}; }

 private:
  double sum_ = 0, diff_sq_sum_ = 0, last_ = 0;
  int64_t steps_ = 0;
};

}  // namespace joule::energy
