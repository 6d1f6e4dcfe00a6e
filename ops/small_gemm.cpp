// See small_gemm.h. Letters: C[M, N] = A[M, Kd] * B[Kd, N]; a tile is R (<= 8) rows by NV 16-float
// vectors of C, held in R*NV zmm accumulators while the whole Kd loop runs: per step of Kd, NV
// loads from one row of B, R broadcasts from A, R*NV FMAs.
#include "ops/small_gemm.h"

#include <algorithm>

#if defined(__AVX512F__)
#include <immintrin.h>
#else
#include "core/eigen.h"
#endif

namespace joule {

#if defined(__AVX512F__)
namespace {

constexpr int64_t tile_rows = 8;  // 8 rows x up to 3 vectors = 24 accumulators of the 32 zmm

// One tile: rows [m0, m0 + R), columns [n0, n0 + 16*NV) of C, the last vector masked by `last`.
// always_inline: as a called function GCC 12 keeps the accumulator array on the stack (2x slower).
template <int R, int NV, bool Accumulate>
__attribute__((always_inline)) inline void tile(const float* A, const float* B, float* C, const float* bias,
                                                int64_t Kd, int64_t N, int64_t m0, int64_t n0, __mmask16 last) {
  __m512 acc[R][NV];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  const float* a = A + m0 * Kd;
  const float* b = B + n0;
  for (int64_t d = 0; d < Kd; ++d, b += N) {
    __m512 bv[NV];
    for (int j = 0; j < NV; ++j)
      bv[j] = j == NV - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * j) : _mm512_loadu_ps(b + 16 * j);
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(a[i * Kd + d]);
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NV; ++j) {
      float* c = C + (m0 + i) * N + n0 + 16 * j;
      const __mmask16 mask = j == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
      __m512 v = acc[i][j];
      if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[m0 + i]));
      if constexpr (Accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, c));
      _mm512_mask_storeu_ps(c, mask, v);
    }
}

// All rows of C for the column block [n0, n0 + width), width <= 16*NV.
template <int NV, bool Accumulate>
void column_block(const float* A, const float* B, float* C, const float* bias, int64_t M, int64_t Kd, int64_t N,
                  int64_t n0, int64_t width) {
  const int64_t in_last = width - 16 * (NV - 1);
  const auto last = static_cast<__mmask16>(in_last >= 16 ? 0xFFFFu : (1u << in_last) - 1);
  int64_t m0 = 0;
  for (; m0 + tile_rows <= M; m0 += tile_rows) tile<tile_rows, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last);
  switch (M - m0) {  // the remaining rows, one instantiation per count
    case 1: tile<1, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last); break;
    case 2: tile<2, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last); break;
    case 3: tile<3, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last); break;
    case 4: tile<4, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last); break;
    case 5: tile<5, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last); break;
    case 6: tile<6, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last); break;
    case 7: tile<7, NV, Accumulate>(A, B, C, bias, Kd, N, m0, n0, last); break;
    default: break;
  }
}

template <bool Accumulate>
void gemm(const float* A, const float* B, float* C, const float* bias, int64_t M, int64_t Kd, int64_t N) {
  // 32-column blocks, leaving 17..48 columns for one last block (or all of N when N <= 48): a
  // remainder of 1..16 rides along in a 3-vector block, so no block computes mostly masked lanes
  int64_t n0 = 0;
  for (; N - n0 > 48; n0 += 32) column_block<2, Accumulate>(A, B, C, bias, M, Kd, N, n0, 32);
  const int64_t rest = N - n0;
  if (rest > 32) {
    column_block<3, Accumulate>(A, B, C, bias, M, Kd, N, n0, rest);
  } else if (rest > 16) {
    column_block<2, Accumulate>(A, B, C, bias, M, Kd, N, n0, rest);
  } else if (rest > 0) {
    column_block<1, Accumulate>(A, B, C, bias, M, Kd, N, n0, rest);
  }
}

}  // namespace

void small_gemm(const float* A, const float* B, float* C, const float* bias, int64_t M, int64_t Kd, int64_t N,
                bool accumulate) {
  if (accumulate) {
    gemm<true>(A, B, C, bias, M, Kd, N);
  } else {
    gemm<false>(A, B, C, bias, M, Kd, N);
  }
}

#else  // no AVX-512: Eigen

void small_gemm(const float* A, const float* B, float* C, const float* bias, int64_t M, int64_t Kd, int64_t N,
                bool accumulate) {
  MapR c(C, M, N);
  const ConstMapR a(A, M, Kd), b(B, Kd, N);
  if (accumulate) {
    c.noalias() += a * b;
  } else {
    c.noalias() = a * b;
  }
  if (bias)
    for (int64_t m = 0; m < M; ++m) c.row(m).array() += bias[m];
}

#endif

}  // namespace joule
