// GELU (tanh approximation), CPU reference. Elementwise over chunks of 4096 elements: each chunk is
// one Eigen array expression (vectorized exp), chunks split over OpenMP threads once the tensor is
// large enough to pay for the fork.
//
// With u = √(2/π)·(x + β·x³) and s = σ(2u) = 1 / (1 + e^(−2u)) = (1 + tanh u) / 2:
//   gelu(x)  = 0.5·x·(1 + tanh u)                     = x·s
//   gelu'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·u'  = s + 2·x·s·(1 − s)·√(2/π)·(1 + 3β·x²)
// The sigmoid form avoids the cancellation in 1 + tanh u for negative x (tanh rounds to −1 in f32
// below x ≈ −5, where the tanh form gives exactly 0 instead of the tiny true value).
#include "ops/gelu.h"

#include <algorithm>

// GCC 12's AVX-512 intrinsics header trips -Wmaybe-uninitialized inside Eigen's packet code
// (a false positive: `__m512 __Y = __Y;` in avx512fintrin.h); silence it for Eigen only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace joule {
namespace {

constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kBeta = 0.044715f;
constexpr int64_t kChunk = 4096;

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

}  // namespace

void gelu_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_cpu_tensor(x, "gelu_forward", "x", -1);
  ensure_tensor(ctx, y, x.shape(), DType::f32);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const int64_t n = x.numel(), chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (n > 32768)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
    ConstArrayMap X(px + begin, len);
    ArrayMap Y(py + begin, len);
    Y = X / (1.0f + ((-2.0f * kSqrt2OverPi) * (X + kBeta * X.cube())).exp());
  }
}

void gelu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x) {
  const char* op = "gelu_backward";
  check_cpu_tensor(dy, op, "dy", -1);
  check_cpu_tensor(x, op, "x", -1);
  JOULE_CHECK(dy.shape() == x.shape(), op, ": dy must have the shape of x = ", shape_str(x.shape()), ", got ",
              dy.describe());
  ensure_tensor(ctx, dx, dy.shape(), DType::f32);  // a no-op when dx is dy (in place)
  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  const int64_t n = x.numel(), chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (n > 32768)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
    ConstArrayMap X(px + begin, len);
    ConstArrayMap dY(pdy + begin, len);
    ArrayMap dX(pdx + begin, len);
    alignas(64) float s_buffer[kChunk];
    ArrayMap S(s_buffer, len);
    S = 1.0f / (1.0f + ((-2.0f * kSqrt2OverPi) * (X + kBeta * X.cube())).exp());
    // elementwise with equal indices, so dX may alias dY
    dX = dY * (S + (2.0f * kSqrt2OverPi) * X * S * (1.0f - S) * (1.0f + (3.0f * kBeta) * X.square()));
  }
}

}  // namespace joule
