// f32 matrix multiply on the CPU, row-major: C[M, N] = alpha · op(A) · op(B) + beta · C, where
// op(A) is [M, K] (A stored [M, K], or [K, M] when transposed) and op(B) is [K, N].
// OpenBLAS (OpenMP build) when the build has it, Eigen otherwise; both use the calling thread's
// OpenMP thread count (make_cpu_context sets it) and one thread inside a parallel region.
#pragma once

#include <cstdint>

namespace joule {

enum class Transpose { no, yes };

void gemm_f32(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

const char* gemm_backend();  // "openblas" | "eigen"

// Eigen's product regardless of the build (the reference the benchmark compares against).
void gemm_f32_eigen(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace joule
