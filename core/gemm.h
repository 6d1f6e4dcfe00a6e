// f32 matrix multiply on the CPU, row-major: C[M, N] = alpha · op(A) · op(B) + beta · C, where
// op(A) is [M, K] (A stored [M, K], or [K, M] when transposed) and op(B) is [K, N].
//
// Three backends ("CPU math"): Eigen (always built; the reference), oneDNN (JIT-generates its
// kernels for the ISA it finds) and OpenBLAS (OpenMP build; only where its detected core is not
// older than the CPU's ISA: Debian's 0.3.21 runs generic Prescott kernels on CPUs it does not know).
// All use the calling thread's OpenMP thread count (make_cpu_context sets it). A backend object
// caches per-shape state (oneDNN primitives, scratch memory) and is used by one thread at a time.
// The Context names the backend ops use (ctx.gemm; none = Eigen); core/cpu_math_select.h picks one.
// Compute precision (ctx.precision, core/dtype.h): at bf16 every gemm_f32 call instead runs oneDNN's
// bf16 matmul on bf16 roundings of A and B, accumulating in f32 into f32 C (ctx.gemm_bf16, made on
// first use); the caller's tensors stay f32. It can change between any two calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace joule {

struct Context;

enum class Transpose { no, yes };
enum class CpuMath { eigen, openblas, onednn };

const char* cpu_math_name(CpuMath kind);  // "eigen" | "openblas" | "onednn"
// "eigen" etc. → kind; false for any other text.
bool parse_cpu_math(const std::string& text, CpuMath* kind);
// Every backend, in the order auto-selection breaks ties (the reference last).
std::vector<CpuMath> all_cpu_math();

// One GEMM call's geometry (leading dimensions in elements).
struct GemmShape {
  Transpose trans_a = Transpose::no, trans_b = Transpose::no;
  int64_t M = 0, N = 0, K = 0;
  float alpha = 1, beta = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  bool operator==(const GemmShape&) const = default;
  double flops() const { return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K); }
  std::string describe() const;  // "N·T 128x1024x784"
};

class GemmBackend {
 public:
  virtual ~GemmBackend() = default;
  virtual CpuMath kind() const = 0;
  // The library and the kernel or ISA it runs here: "openblas 0.3.21 (SkylakeX)",
  // "onednn 2.6.3 (avx512_core_amx; brg:avx512_core)", "eigen 3.4.0 (avx512)".
  virtual std::string kernel() const = 0;
  virtual void gemm(const GemmShape& shape, const float* A, const float* B, float* C) = 0;
};

// Why `kind` cannot run in this build on this CPU; "" when it can.
std::string cpu_math_unavailable(CpuMath kind);
// A backend of `kind`; JOULE_CHECK fails (invalid input) with the reason when it is unavailable.
std::unique_ptr<GemmBackend> make_gemm_backend(CpuMath kind);

// Why bf16 compute cannot run here ("built without oneDNN (libdnnl-dev)", "this CPU has no
// AVX512-BF16/AMX (...)"); "" when it can (oneDNN built in, the CPU has AVX512-BF16 or AMX-BF16).
std::string bf16_unavailable_reason();
// The precision a request for `requested` gets here: bf16 where available, else f32 with `*warning`
// set to one sentence naming the reason; `*warning` is "" when the request is granted.
Precision resolve_precision(Precision requested, std::string* warning);

// At ctx.precision f32: through ctx.gemm (Eigen when the context names none). At bf16: through
// ctx.gemm_bf16 (created here when null; JOULE_CHECK fails with the reason where bf16 is unavailable).
void gemm_f32(Context& ctx, Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Eigen's product regardless of the context (the reference).
void gemm_f32_eigen(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
inline void gemm_f32_eigen(const GemmShape& s, const float* A, const float* B, float* C) {
  gemm_f32_eigen(s.trans_a, s.trans_b, s.M, s.N, s.K, s.alpha, A, s.lda, B, s.ldb, s.beta, C, s.ldc);
}

}  // namespace joule
