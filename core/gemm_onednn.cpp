// oneDNN backends: one matmul primitive per GEMM shape, created on first use and cached; scratch
// memory is ours (user scratchpad mode), one buffer grown to the largest need and kept across steps.
// Transposes become strides of plain memory descriptors; alpha an output scale, beta a sum post-op.
// oneDNN (OpenMP runtime) runs on the calling thread's OpenMP thread count.
// The bf16 backend (compute precision bf16, core/gemm.h) takes the same f32 operands: each call
// converts A and B to bf16 (round to nearest even; one OpenMP loop over both, AVX-512 where built
// for it) into buffers of the same layout, then runs a bf16 × bf16 matmul that accumulates in f32 and writes (or sums into) f32 C.
// Its cache is its own: the f32 and bf16 backends never share a primitive.
#include "core/build_info.h"
#include "core/gemm_backends.h"

#if JOULE_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace joule {
namespace detail {

#if JOULE_HAVE_ONEDNN
namespace {

using dnnl::memory;

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

std::string onednn_version() {
  const dnnl::version_t* v = dnnl::version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

// [rows, cols] stored row-major with leading dimension ld, or its transpose (stored [cols, rows]).
memory::desc matrix_desc(int64_t rows, int64_t cols, int64_t ld, bool transposed, memory::data_type type) {
  return memory::desc({rows, cols}, type, transposed ? memory::dims{1, ld} : memory::dims{ld, 1});
}

// Floats a matrix of `outer` rows of `inner` elements, `ld` apart, spans in memory (padding included).
int64_t span(int64_t outer, int64_t inner, int64_t ld) { return (outer - 1) * ld + inner; }

// dst[i] = bf16(src[i]) for i in [begin, end): round to nearest even, NaN stays NaN (f32_to_bf16).
void convert_to_bf16(const float* src, uint16_t* dst, int64_t begin, int64_t end) {
  int64_t i = begin;
#if defined(__AVX512F__)
  const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff), abs = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000), quiet = _mm512_set1_epi32(0x00400000);
  for (; i + 16 <= end; i += 16) {  // (maskz_ forms: GCC 12 warns about the others' undefined lanes)
    const __m512i x = _mm512_castps_si512(_mm512_loadu_ps(src + i));
    __m512i r = _mm512_add_epi32(x, _mm512_add_epi32(half, _mm512_and_si512(_mm512_maskz_srli_epi32(0xffff, x, 16), one)));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, abs), inf);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(x, quiet));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_maskz_cvtepi32_epi16(0xffff, _mm512_maskz_srli_epi32(0xffff, r, 16)));
  }
#endif
  for (; i < end; ++i) dst[i] = f32_to_bf16(src[i]).bits;
}

// Both operands in one parallel loop over 16K-float chunks (one fork/join per GEMM).
void convert_operands(const float* A, uint16_t* a16, int64_t a_n, const float* B, uint16_t* b16, int64_t b_n) {
  constexpr int64_t chunk = 16384;
  const int64_t a_chunks = (a_n + chunk - 1) / chunk, b_chunks = (b_n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (a_n + b_n > 4 * chunk)
  for (int64_t c = 0; c < a_chunks + b_chunks; ++c) {
    const bool in_a = c < a_chunks;
    const int64_t begin = (in_a ? c : c - a_chunks) * chunk, n = in_a ? a_n : b_n;
    convert_to_bf16(in_a ? A : B, in_a ? a16 : b16, begin, std::min(n, begin + chunk));
  }
}

class OnednnGemm final : public GemmBackend {
 public:
  explicit OnednnGemm(bool bf16) : bf16_(bf16), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  CpuMath kind() const override { return CpuMath::onednn; }
  std::string kernel() const override {
    std::string text = "onednn " + onednn_version() + " (" + isa_name(dnnl::get_effective_cpu_isa());
    if (!main_impl_.empty()) text += "; " + main_impl_;
    return text + (bf16_ ? "), bf16 in, f32 accumulation and out" : ")");
  }

  void gemm(const GemmShape& s, const float* A, const float* B, float* C) override {
    Entry& e = entry(s);
    e.c.set_data_handle(C);
    if (bf16_) {  // A, B → bf16 copies of the same layout, then the matmul reads those
      const bool ta = s.trans_a == Transpose::yes, tb = s.trans_b == Transpose::yes;
      const int64_t a_n = span(ta ? s.K : s.M, ta ? s.M : s.K, s.lda), b_n = span(tb ? s.N : s.K, tb ? s.K : s.N, s.ldb);
      if (a16_.size() < static_cast<size_t>(a_n)) a16_.resize(static_cast<size_t>(a_n));
      if (b16_.size() < static_cast<size_t>(b_n)) b16_.resize(static_cast<size_t>(b_n));
      convert_operands(A, a16_.data(), a_n, B, b16_.data(), b_n);
      e.a16.set_data_handle(a16_.data());
      e.b16.set_data_handle(b16_.data());
    } else {
      e.a.set_data_handle(const_cast<float*>(A));
      e.b.set_data_handle(const_cast<float*>(B));
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bf16_ ? e.a16 : e.a},
                                         {DNNL_ARG_WEIGHTS, bf16_ ? e.b16 : e.b},
                                         {DNNL_ARG_DST, e.c}};
    if (e.scratch_bytes > 0) {
      if (scratch_.size() < e.scratch_bytes) scratch_.resize(e.scratch_bytes);
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(e.scratch_desc, engine_, scratch_.data()));
    }
    e.matmul.execute(stream_, args);
    stream_.wait();
  }

 private:
  struct Entry {
    GemmShape shape;
    dnnl::matmul matmul;
    memory a, b, c;
    memory::desc scratch_desc;
    size_t scratch_bytes = 0;
    memory a16, b16;  // bf16 only: the converted operands (data: a16_, b16_)
  };

  Entry& entry(const GemmShape& s) {
    for (Entry& e : cache_)
      if (e.shape == s) return e;
    const auto f32 = memory::data_type::f32, in = bf16_ ? memory::data_type::bf16 : f32;
    const memory::desc a = matrix_desc(s.M, s.K, s.lda, s.trans_a == Transpose::yes, f32);
    const memory::desc b = matrix_desc(s.K, s.N, s.ldb, s.trans_b == Transpose::yes, f32);
    const memory::desc c = matrix_desc(s.M, s.N, s.ldc, false, f32);
    const memory::desc a_in = matrix_desc(s.M, s.K, s.lda, s.trans_a == Transpose::yes, in);
    const memory::desc b_in = matrix_desc(s.K, s.N, s.ldb, s.trans_b == Transpose::yes, in);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
    if (s.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(s.beta);
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_in, b_in, c), attr, engine_);
    if (s.flops() > main_flops_) main_flops_ = s.flops(), main_impl_ = pd.impl_info_str();
    Entry e;
    e.shape = s;
    e.matmul = dnnl::matmul(pd);
    e.a = memory(a, engine_, nullptr), e.b = memory(b, engine_, nullptr), e.c = memory(c, engine_, nullptr);
    e.scratch_desc = pd.scratchpad_desc();
    e.scratch_bytes = e.scratch_desc.get_size();
    if (bf16_) {
      e.a16 = memory(a_in, engine_, nullptr);
      e.b16 = memory(b_in, engine_, nullptr);
    }
    cache_.push_back(std::move(e));
    return cache_.back();
  }

  const bool bf16_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<Entry> cache_;  // a model has a handful of shapes: a linear search is the cheapest map
  std::vector<uint8_t> scratch_;
  std::vector<uint16_t> a16_, b16_;  // bf16 operands, grown to the largest shape (one call at a time)
  std::string main_impl_;  // implementation of the largest GEMM so far ("brg:avx512_core")
  double main_flops_ = 0;
};

}  // namespace

std::string onednn_unavailable() { return ""; }
std::unique_ptr<GemmBackend> make_onednn_gemm() { return std::make_unique<OnednnGemm>(false); }

std::string onednn_bf16_unavailable() {
  // oneDNN's ISA values are supersets by bits: AMX includes AVX512-BF16 (honours ONEDNN_MAX_CPU_ISA)
  const auto have = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto need = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  if ((have & need) != need)
    return std::string("this CPU has no AVX512-BF16/AMX (oneDNN finds ") + isa_name(dnnl::get_effective_cpu_isa()) + ")";
  return "";
}
std::unique_ptr<GemmBackend> make_onednn_bf16_gemm() { return std::make_unique<OnednnGemm>(true); }

#else

std::string onednn_unavailable() { return "built without oneDNN (libdnnl-dev)"; }
std::unique_ptr<GemmBackend> make_onednn_gemm() { return nullptr; }
std::string onednn_bf16_unavailable() { return "built without oneDNN (libdnnl-dev)"; }
std::unique_ptr<GemmBackend> make_onednn_bf16_gemm() { return nullptr; }

#endif

}  // namespace detail

}  // namespace joule
