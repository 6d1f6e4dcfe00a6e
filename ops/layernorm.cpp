// Layer normalization, CPU reference.
//
// Dimension letters: N rows, D normalized features. x̂ = (x − mean) · rstd, g = dy · gamma.
//   forward:  two passes per row (mean, then the centred variance: no cancellation), rows split
//             over OpenMP threads.
//   backward: dx = rstd · (g − mean_D(g) − x̂ · mean_D(g · x̂)), rows over threads;
//             dgamma = Σ_n dy · x̂ and dbeta = Σ_n dy, split over column blocks so every column sums
//             its rows in the same order whatever the thread count (deterministic gradients).
//             The parameter gradients are formed first, so dx may overwrite dy.
#include "ops/layernorm.h"

#include <algorithm>
#include <cmath>

// GCC 12's AVX-512 intrinsics header trips -Wmaybe-uninitialized inside Eigen's packet code
// (a false positive: `__m512 __Y = __Y;` in avx512fintrin.h); silence it for Eigen only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace joule {
namespace {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

void parameter_grads(Context& ctx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                     const float* rstd, int64_t N, int64_t D, GradMode mode) {
  constexpr int64_t block = 128;
  const int64_t blocks = (D + block - 1) / block;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (N * D > 32768 && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * block, width = std::min(block, D - c0);
    float acc_gamma[block] = {}, acc_beta[block] = {};
    for (int64_t n = 0; n < N; ++n) {
      const float* dy_row = dy + n * D + c0;
      const float* x_row = x + n * D + c0;
      const float mu = mean[n], rs = rstd[n];
      for (int64_t j = 0; j < width; ++j) {
        acc_gamma[j] += dy_row[j] * ((x_row[j] - mu) * rs);
        acc_beta[j] += dy_row[j];
      }
    }
    for (int64_t j = 0; j < width; ++j) {
      if (mode == GradMode::overwrite) {
        dgamma[c0 + j] = acc_gamma[j];
        dbeta[c0 + j] = acc_beta[j];
      } else {
        dgamma[c0 + j] += acc_gamma[j];
        dbeta[c0 + j] += acc_beta[j];
      }
    }
  }
}

}  // namespace

void layernorm_forward(Context& ctx, Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& gamma,
                       const Tensor& beta, float eps) {
  const char* op = "layernorm_forward";
  check_cpu_tensor(x, op, "x", 2);
  const int64_t N = x.size(0), D = x.size(1);
  check_cpu_tensor(gamma, op, "gamma", 1);
  check_shape(gamma, op, "gamma", "[D]", {D});
  check_cpu_tensor(beta, op, "beta", 1);
  check_shape(beta, op, "beta", "[D]", {D});
  JOULE_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
  ensure_tensor(ctx, y, {N, D}, DType::f32);
  ensure_tensor(ctx, mean, {N}, DType::f32);
  ensure_tensor(ctx, rstd, {N}, DType::f32);

  const float* px = x.data<float>();
  float* py = y.data<float>();
  float* pmean = mean.data<float>();
  float* prstd = rstd.data<float>();
  ConstArrayMap G(gamma.data<float>(), D), B(beta.data<float>(), D);
  const float inv_d = D > 0 ? 1.0f / static_cast<float>(D) : 0.0f;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (N * D > 32768)
  for (int64_t n = 0; n < N; ++n) {
    ConstArrayMap X(px + n * D, D);
    ArrayMap Y(py + n * D, D);
    const float mu = X.sum() * inv_d;
    const float var = (X - mu).square().sum() * inv_d;
    const float rs = 1.0f / std::sqrt(var + eps);
    Y = (X - mu) * rs * G + B;
    pmean[n] = mu;
    prstd[n] = rs;
  }
}

void layernorm_backward(Context& ctx, Tensor& dx, Tensor& dgamma, Tensor& dbeta, const Tensor& dy, const Tensor& x,
                        const Tensor& gamma, const Tensor& mean, const Tensor& rstd, GradMode mode) {
  const char* op = "layernorm_backward";
  check_cpu_tensor(x, op, "x", 2);
  const int64_t N = x.size(0), D = x.size(1);
  check_cpu_tensor(dy, op, "dy", 2);
  check_shape(dy, op, "dy", "[N, D]", {N, D});
  check_cpu_tensor(gamma, op, "gamma", 1);
  check_shape(gamma, op, "gamma", "[D]", {D});
  check_cpu_tensor(mean, op, "mean", 1);
  check_shape(mean, op, "mean", "[N]", {N});
  check_cpu_tensor(rstd, op, "rstd", 1);
  check_shape(rstd, op, "rstd", "[N]", {N});
  check_cpu_tensor(dgamma, op, "dgamma", 1);
  check_shape(dgamma, op, "dgamma", "[D]", {D});
  check_cpu_tensor(dbeta, op, "dbeta", 1);
  check_shape(dbeta, op, "dbeta", "[D]", {D});

  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();
  const float* pmean = mean.data<float>();
  const float* prstd = rstd.data<float>();
  parameter_grads(ctx, dgamma.data<float>(), dbeta.data<float>(), pdy, px, pmean, prstd, N, D, mode);

  ensure_tensor(ctx, dx, {N, D}, DType::f32);  // a no-op when dx is dy (in place)
  float* pdx = dx.data<float>();
  ConstArrayMap G(gamma.data<float>(), D);
  const float inv_d = D > 0 ? 1.0f / static_cast<float>(D) : 0.0f;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (N * D > 32768)
  for (int64_t n = 0; n < N; ++n) {
    ConstArrayMap X(px + n * D, D), dY(pdy + n * D, D);
    ArrayMap dX(pdx + n * D, D);
    const float mu = pmean[n], rs = prstd[n];
    const auto xhat = (X - mu) * rs;
    const auto g = dY * G;
    const float mean_g = g.sum() * inv_d;
    const float mean_gx = (g * xhat).sum() * inv_d;
    dX = rs * (g - mean_g - xhat * mean_gx);  // reads dY[i] before writing dX[i]: in place is safe
  }
}

}  // namespace joule
