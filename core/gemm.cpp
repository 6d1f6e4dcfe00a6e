#include "core/gemm.h"

#include "core/build_info.h"
#include "core/eigen.h"

#if JOULE_HAVE_BLAS
#include <cblas.h>
#endif

namespace joule {

void gemm_f32_eigen(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  using Stride = Eigen::OuterStride<>;
  using ConstMap = Eigen::Map<const MatrixR, Eigen::Unaligned, Stride>;
  const bool ta = trans_a == Transpose::yes, tb = trans_b == Transpose::yes;
  ConstMap a(A, ta ? K : M, ta ? M : K, Stride(lda));
  ConstMap b(B, tb ? N : K, tb ? K : N, Stride(ldb));
  Eigen::Map<MatrixR, Eigen::Unaligned, Stride> c(C, M, N, Stride(ldc));
  if (beta == 0.0f) {
    c.setZero();
  } else if (beta != 1.0f) {
    c *= beta;
  }
  if (ta && tb) {
    c.noalias() += alpha * a.transpose() * b.transpose();
  } else if (ta) {
    c.noalias() += alpha * a.transpose() * b;
  } else if (tb) {
    c.noalias() += alpha * a * b.transpose();
  } else {
    c.noalias() += alpha * a * b;
  }
}

void gemm_f32(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
#if JOULE_HAVE_BLAS
  if (K == 0) return gemm_f32_eigen(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  cblas_sgemm(CblasRowMajor, trans_a == Transpose::yes ? CblasTrans : CblasNoTrans,
              trans_b == Transpose::yes ? CblasTrans : CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
              static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta, C,
              static_cast<int>(ldc));
#else
  gemm_f32_eigen(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

const char* gemm_backend() { return JOULE_HAVE_BLAS ? "openblas" : "eigen"; }

}  // namespace joule
