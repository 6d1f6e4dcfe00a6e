// core/gemm.h: names, dispatch through the Context, and the Eigen backend (the reference).
#include "core/gemm.h"

#include "core/context.h"
#include "core/eigen.h"
#include "core/error.h"
#include "core/gemm_backends.h"

namespace joule {

const char* cpu_math_name(CpuMath kind) {
  switch (kind) {
    case CpuMath::eigen: return "eigen";
    case CpuMath::openblas: return "openblas";
    case CpuMath::onednn: return "onednn";
  }
  return "?";
}

bool parse_cpu_math(const std::string& text, CpuMath* kind) {
  for (CpuMath k : all_cpu_math()) {
    if (text == cpu_math_name(k)) {
      *kind = k;
      return true;
    }
  }
  return false;
}

std::vector<CpuMath> all_cpu_math() { return {CpuMath::onednn, CpuMath::openblas, CpuMath::eigen}; }

std::string GemmShape::describe() const {
  return std::string(trans_a == Transpose::yes ? "T" : "N") + (trans_b == Transpose::yes ? "T" : "N") + " " +
         std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
}

void gemm_f32_eigen(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
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
  if (K == 0) return;
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

void gemm_f32(Context& ctx, Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (ctx.precision == Precision::bf16 && K > 0) {
    if (ctx.gemm_bf16 == nullptr) {
      const std::string why = bf16_unavailable_reason();
      JOULE_CHECK(why.empty(), "bf16 compute is not available: ", why);
      ctx.gemm_bf16 = detail::make_onednn_bf16_gemm();
    }
    return ctx.gemm_bf16->gemm({trans_a, trans_b, M, N, K, alpha, beta, lda, ldb, ldc}, A, B, C);
  }
  // K = 0 only scales C; every backend would special-case it, so the reference does it once
  if (ctx.gemm == nullptr || K == 0)
    return gemm_f32_eigen(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  ctx.gemm->gemm({trans_a, trans_b, M, N, K, alpha, beta, lda, ldb, ldc}, A, B, C);
}

std::string cpu_math_unavailable(CpuMath kind) {
  switch (kind) {
    case CpuMath::eigen: return "";
    case CpuMath::openblas: return detail::openblas_unavailable();
    case CpuMath::onednn: return detail::onednn_unavailable();
  }
  return "unknown backend";
}

std::string bf16_unavailable_reason() {
  const std::string why = detail::onednn_unavailable();
  return why.empty() ? detail::onednn_bf16_unavailable() : why;
}

Precision resolve_precision(Precision requested, std::string* warning) {
  warning->clear();
  if (requested == Precision::f32) return Precision::f32;
  const std::string why = bf16_unavailable_reason();
  if (why.empty()) return requested;
  *warning = std::string("precision ") + precision_name(requested) + " is not available, computing in f32: " + why;
  return Precision::f32;
}

std::unique_ptr<GemmBackend> make_gemm_backend(CpuMath kind) {
  const std::string why = cpu_math_unavailable(kind);
  JOULE_CHECK(why.empty(), "cpu math \"", cpu_math_name(kind), "\" is not available: ", why);
  switch (kind) {
    case CpuMath::eigen: return detail::make_eigen_gemm();
    case CpuMath::openblas: return detail::make_openblas_gemm();
    case CpuMath::onednn: return detail::make_onednn_gemm();
  }
  JOULE_ASSERT(false, "unknown cpu math backend");
  return nullptr;
}

namespace detail {
namespace {

// Eigen lists its instruction sets widest first ("AVX512, FMA, AVX2, ..."): keep the first.
std::string widest_simd() {
  const std::string all = Eigen::SimdInstructionSetsInUse();
  return all.substr(0, all.find(','));
}

class EigenGemm final : public GemmBackend {
 public:
  CpuMath kind() const override { return CpuMath::eigen; }
  std::string kernel() const override {
    return "eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
           std::to_string(EIGEN_MINOR_VERSION) + " (" + widest_simd() + ")";
  }
  void gemm(const GemmShape& s, const float* A, const float* B, float* C) override { gemm_f32_eigen(s, A, B, C); }
};

}  // namespace

std::unique_ptr<GemmBackend> make_eigen_gemm() { return std::make_unique<EigenGemm>(); }

int cpu_isa_rank() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 3;
  if (__builtin_cpu_supports("avx2")) return 2;
  if (__builtin_cpu_supports("avx")) return 1;
  return 0;
}

const char* isa_rank_name(int rank) {
  static const char* const names[] = {"sse", "avx", "avx2", "avx512"};
  return rank >= 0 && rank <= 3 ? names[rank] : "unknown";
}

}  // namespace detail
}  // namespace joule
