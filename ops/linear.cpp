// Linear layer, CPU reference: three Eigen GEMMs over row-major maps of the tensors (no copies).
//
// Dimension letters: N rows (batch), IN input features, OUT output features.
#include "ops/linear.h"

#include <algorithm>

// GCC 12's AVX-512 intrinsics header trips -Wmaybe-uninitialized inside Eigen's packet code
// (a false positive: `__m512 __Y = __Y;` in avx512fintrin.h); silence it for Eigen only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace joule {
namespace {

using MatrixR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMapR = Eigen::Map<const MatrixR>;
using MapR = Eigen::Map<MatrixR>;

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
  (void)ctx;  // Eigen's GEMM threading is configured by make_cpu_context
  const char* op = "linear_forward";
  check_cpu_tensor(x, op, "x", 2);
  check_cpu_tensor(weight, op, "weight", 2);
  const int64_t N = x.size(0), IN = x.size(1), OUT = weight.size(0);
  check_shape(weight, op, "weight", "[OUT, IN]", {OUT, IN});
  if (bias.defined()) {
    check_cpu_tensor(bias, op, "bias", 1);
    check_shape(bias, op, "bias", "[OUT]", {OUT});
  }
  ensure_tensor(y, {N, OUT}, DType::f32, x.device());

  ConstMapR X(x.data<float>(), N, IN);
  ConstMapR W(weight.data<float>(), OUT, IN);
  MapR Y(y.data<float>(), N, OUT);
  // Seeding Y with the bias costs what the GEMM's own zero-fill would; the GEMM then accumulates.
  if (bias.defined()) {
    Y.rowwise() = Eigen::Map<const Eigen::RowVectorXf>(bias.data<float>(), OUT);
  } else {
    Y.setZero();
  }
  Y.noalias() += X * W.transpose();
}

void linear_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, GradMode mode) {
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

  ConstMapR dY(dy.data<float>(), N, OUT);
  ConstMapR X(x.data<float>(), N, IN);
  if (dx != nullptr) {
    ensure_tensor(*dx, {N, IN}, DType::f32, x.device());
    MapR dX(dx->data<float>(), N, IN);
    dX.noalias() = dY * ConstMapR(weight.data<float>(), OUT, IN);
  }
  MapR dW(dweight.data<float>(), OUT, IN);
  if (mode == GradMode::overwrite) {
    dW.noalias() = dY.transpose() * X;
  } else {
    dW.noalias() += dY.transpose() * X;
  }
  if (dbias != nullptr) column_sums(ctx, dbias->data<float>(), dy.data<float>(), N, OUT, mode);
}

}  // namespace joule
