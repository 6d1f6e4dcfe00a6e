// Linear layer, CPU reference: three GEMMs (core/gemm.h: the context's CPU math backend) on the tensors in place.
//
// Dimension letters: N rows (batch), IN input features, OUT output features.
#include "ops/linear.h"
#include "ops/gpu_ops.h"

#include <algorithm>

#include "core/gemm.h"

namespace joule {
namespace {

// db[o] (+)= Σ_n dy[n, o]. Parallel over column blocks so every column sums its rows in the same
// order whatever the thread count (deterministic gradients).
void column_sums(Context& ctx, float* db, const float* dy, int64_t N, int64_t OUT, GradMode mode) {
  constexpr int64_t block = 64;
  const int64_t blocks = (OUT + block - 1) / block;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (N * OUT > 32768 && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * block, width = std::min(block, OUT - c0);
    float acc[block] = {};
    for (int64_t n = 0; n < N; ++n) {
      const float* row = dy + n * OUT + c0;
      for (int64_t j = 0; j < width; ++j) acc[j] += row[j];
    }
    if (mode == GradMode::overwrite) {
      for (int64_t j = 0; j < width; ++j) db[c0 + j] = acc[j];
    } else {
      for (int64_t j = 0; j < width; ++j) db[c0 + j] += acc[j];
    }
  }
}

}  // namespace

void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (!ctx.device.is_cpu()) return gpu_ops(ctx, "linear_forward").linear_forward(ctx, y, x, weight, bias);
  const char* op = "linear_forward";
  check_cpu_tensor(x, op, "x", 2);
  check_cpu_tensor(weight, op, "weight", 2);
  const int64_t N = x.size(0), IN = x.size(1), OUT = weight.size(0);
  check_shape(weight, op, "weight", "[OUT, IN]", {OUT, IN});
  if (bias.defined()) {
    check_cpu_tensor(bias, op, "bias", 1);
    check_shape(bias, op, "bias", "[OUT]", {OUT});
  }
  ensure_tensor(ctx, y, {N, OUT}, DType::f32);

  float* py = y.data<float>();
  // Y starts as the bias rows (or zeros); the GEMM accumulates X·Wᵀ onto it.
  for (int64_t n = 0; n < N; ++n) {
    if (bias.defined()) {
      std::copy_n(bias.data<float>(), OUT, py + n * OUT);
    } else {
      std::fill_n(py + n * OUT, OUT, 0.0f);
    }
  }
  gemm_f32(ctx, Transpose::no, Transpose::yes, N, OUT, IN, 1.0f, x.data<float>(), IN, weight.data<float>(), IN, 1.0f,
           py, OUT);
}

void linear_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, GradMode mode) {
  if (!ctx.device.is_cpu())
    return gpu_ops(ctx, "linear_backward").linear_backward(ctx, dx, dweight, dbias, dy, x, weight, mode);
  const char* op = "linear_backward";
  check_cpu_tensor(dy, op, "dy", 2);
  check_cpu_tensor(x, op, "x", 2);
  check_cpu_tensor(weight, op, "weight", 2);
  const int64_t N = x.size(0), IN = x.size(1), OUT = weight.size(0);
  check_shape(weight, op, "weight", "[OUT, IN]", {OUT, IN});
  check_shape(dy, op, "dy", "[N, OUT]", {N, OUT});
  check_cpu_tensor(dweight, op, "dweight", 2);
  check_shape(dweight, op, "dweight", "[OUT, IN]", {OUT, IN});
  if (dbias != nullptr) {
    check_cpu_tensor(*dbias, op, "dbias", 1);
    check_shape(*dbias, op, "dbias", "[OUT]", {OUT});
  }

  if (dx != nullptr) {
    ensure_tensor(ctx, *dx, {N, IN}, DType::f32);
    // dX[N, IN] = dY[N, OUT] · W[OUT, IN]
    gemm_f32(ctx, Transpose::no, Transpose::no, N, IN, OUT, 1.0f, dy.data<float>(), OUT, weight.data<float>(), IN, 0.0f,
             dx->data<float>(), IN);
  }
  // dW[OUT, IN] (+)= dYᵀ · X[N, IN]
  gemm_f32(ctx, Transpose::yes, Transpose::no, OUT, IN, N, 1.0f, dy.data<float>(), OUT, x.data<float>(), IN,
           mode == GradMode::overwrite ? 0.0f : 1.0f, dweight.data<float>(), IN);
  if (dbias != nullptr) column_sums(ctx, dbias->data<float>(), dy.data<float>(), N, OUT, mode);
}

}  // namespace joule
