// small_gemm: a single-threaded f32 GEMM for the small, per-sample products of the CPU conv2d
// (e.g. 64x288 by 288x196), called from inside OpenMP regions that split the batch.
//
// With AVX-512 it is an unpacked register-tiled kernel (8 rows x 32 columns of C per tile, B read
// in place): at these sizes it runs 20-30% faster than Eigen's GEMM, whose packing of both
// operands for every call costs more than it saves. Without AVX-512 it is Eigen's GEMM.
// All matrices are row-major and contiguous; A, B and C must not overlap.
#pragma once

#include <cstdint>

namespace joule {

// C[M, N] = A[M, Kd] * B[Kd, N] + bias[m] (per row; bias may be nullptr) + (accumulate ? C : 0).
// Sums run over Kd in order, in f32.
void small_gemm(const float* A, const float* B, float* C, const float* bias, int64_t M, int64_t Kd, int64_t N,
                bool accumulate);

}  // namespace joule
