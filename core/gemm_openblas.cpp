// OpenBLAS backend (OpenMP build): available only where the core OpenBLAS detected uses the CPU's
// widest vector ISA. Debian 12's 0.3.21 (DYNAMIC_ARCH) falls back to its Prescott (SSE3) kernels on
// CPU models newer than its table, 3-4x slower than the AVX-512 kernels the same CPU could run.
#include "core/build_info.h"
#include "core/gemm_backends.h"

#if JOULE_HAVE_BLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <cctype>

namespace joule::detail {

int openblas_core_isa_rank(const std::string& core_name) {
  std::string name = core_name;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
  static const char* const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
  static const char* const avx2[] = {"haswell", "zen", "skylake", "excavator", "atomc3000"};
  static const char* const avx[] = {"sandybridge", "bulldozer", "piledriver", "steamroller"};
  static const char* const sse[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "barcelona",
                                    "opteron", "opteron_sse3", "katmai", "coppermine", "northwood", "bobcat",
                                    "nano", "athlon"};
  for (const char* n : avx512)
    if (name == n) return 3;
  for (const char* n : avx2)
    if (name == n) return 2;
  for (const char* n : avx)
    if (name == n) return 1;
  for (const char* n : sse)
    if (name == n) return 0;
  return -1;
}

#if JOULE_HAVE_BLAS
namespace {

std::string openblas_core() { return openblas_get_corename(); }

class OpenblasGemm final : public GemmBackend {
 public:
  CpuMath kind() const override { return CpuMath::openblas; }
  std::string kernel() const override {
    std::string config = openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY ..."
    const size_t space = config.find(' '), next = config.find(' ', space + 1);
    const std::string version = space == std::string::npos ? "" : " " + config.substr(space + 1, next - space - 1);
    return "openblas" + version + " (" + openblas_core() + ")";
  }
  void gemm(const GemmShape& s, const float* A, const float* B, float* C) override {
    cblas_sgemm(CblasRowMajor, s.trans_a == Transpose::yes ? CblasTrans : CblasNoTrans,
                s.trans_b == Transpose::yes ? CblasTrans : CblasNoTrans, static_cast<int>(s.M), static_cast<int>(s.N),
                static_cast<int>(s.K), s.alpha, A, static_cast<int>(s.lda), B, static_cast<int>(s.ldb), s.beta, C,
                static_cast<int>(s.ldc));
  }
};

}  // namespace

std::string openblas_unavailable() {
  const std::string core = openblas_core();
  const int core_rank = openblas_core_isa_rank(core), cpu_rank = cpu_isa_rank();
  if (core_rank < cpu_rank)
    return "OpenBLAS detected core " + core + " (" + isa_rank_name(core_rank) + ") is older than this CPU's " +
           isa_rank_name(cpu_rank) + "; its kernels would run several times slower than the CPU allows";
  return "";
}

std::unique_ptr<GemmBackend> make_openblas_gemm() { return std::make_unique<OpenblasGemm>(); }

#else

std::string openblas_unavailable() { return "built without OpenBLAS (libopenblas-openmp-dev)"; }
std::unique_ptr<GemmBackend> make_openblas_gemm() { return nullptr; }

#endif

}  // namespace joule::detail
