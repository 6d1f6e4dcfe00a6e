// gemm_f32 (OpenBLAS or Eigen) and gemm_f32_eigen against a double-precision triple loop, for every
// transpose combination, alpha/beta, padded leading dimensions and odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/context.h"
#include "core/gemm.h"
#include "core/rng.h"

namespace joule {
namespace {

using GemmFn = void (*)(Transpose, Transpose, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                        int64_t, float, float*, int64_t);

std::vector<float> random_values(size_t n, uint64_t seed) {
  CounterRng rng(seed, 0, 0, RngStream::test);
  std::vector<float> v(n);
  for (float& x : v) x = 2.0f * rng.uniform() - 1.0f;
  return v;
}

void check(GemmFn gemm, Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
  const bool ta_ = ta == Transpose::yes, tb_ = tb == Transpose::yes;
  const int64_t lda = (ta_ ? M : K) + 3, ldb = (tb_ ? K : N) + 1, ldc = N + 2;  // padded rows
  const std::vector<float> A = random_values(static_cast<size_t>((ta_ ? K : M) * lda), 1);
  const std::vector<float> B = random_values(static_cast<size_t>((tb_ ? N : K) * ldb), 2);
  std::vector<float> C = random_values(static_cast<size_t>(M * ldc), 3);
  const std::vector<float> C0 = C;
  gemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = ta_ ? A[static_cast<size_t>(k * lda + i)] : A[static_cast<size_t>(i * lda + k)];
        const double b = tb_ ? B[static_cast<size_t>(j * ldb + k)] : B[static_cast<size_t>(k * ldb + j)];
        sum += a * b;
      }
      const double expected = alpha * sum + beta * C0[static_cast<size_t>(i * ldc + j)];
      // f32 accumulation over K terms of magnitude <= 1: error grows ~ sqrt(K) · 2^-24 · K
      ASSERT_NEAR(C[static_cast<size_t>(i * ldc + j)], expected, 1e-5 * (K + 1)) << "C[" << i << ", " << j << "]";
    }
    for (int64_t j = N; j < ldc; ++j)  // padding untouched
      ASSERT_EQ(C[static_cast<size_t>(i * ldc + j)], C0[static_cast<size_t>(i * ldc + j)]);
  }
}

TEST(Gemm, AllTransposesMatchDoubleLoops) {
  make_cpu_context(2, 0);  // both threads, so the threaded GEMM paths run
  for (GemmFn gemm : {GemmFn(&gemm_f32), GemmFn(&gemm_f32_eigen)}) {
    for (Transpose ta : {Transpose::no, Transpose::yes}) {
      for (Transpose tb : {Transpose::no, Transpose::yes}) {
        check(gemm, ta, tb, 7, 5, 3, 1.0f, 0.0f);
        check(gemm, ta, tb, 33, 17, 130, 0.5f, 1.0f);
        check(gemm, ta, tb, 130, 70, 65, -1.0f, 0.25f);
      }
    }
  }
}

TEST(Gemm, EmptyInnerDimensionScalesC) {
  std::vector<float> C = {1, 2, 3, 4};
  gemm_f32(Transpose::no, Transpose::no, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2}));
}

TEST(Gemm, BackendIsNamed) {
  const std::string backend = gemm_backend();
  EXPECT_TRUE(backend == "openblas" || backend == "eigen") << backend;
}

}  // namespace
}  // namespace joule
