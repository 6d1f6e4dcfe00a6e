// oneDNN backend: one matmul primitive per GEMM shape, created on first use and cached; scratch
// memory is ours (user scratchpad mode), one buffer grown to the largest need and kept across steps.
// Transposes become strides of plain memory descriptors; alpha an output scale, beta a sum post-op.
// oneDNN (OpenMP runtime) runs on the calling thread's OpenMP thread count.
#include "core/build_info.h"
#include "core/gemm_backends.h"

#if JOULE_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <vector>

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

class OnednnGemm final : public GemmBackend {
 public:
  OnednnGemm() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  CpuMath kind() const override { return CpuMath::onednn; }
  std::string kernel() const override {
    std::string text = "onednn " + onednn_version() + " (" + isa_name(dnnl::get_effective_cpu_isa());
    if (!main_impl_.empty()) text += "; " + main_impl_;
    return text + ")";
  }

  void gemm(const GemmShape& s, const float* A, const float* B, float* C) override {
    Entry& e = entry(s);
    e.a.set_data_handle(const_cast<float*>(A));
    e.b.set_data_handle(const_cast<float*>(B));
    e.c.set_data_handle(C);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.a}, {DNNL_ARG_WEIGHTS, e.b}, {DNNL_ARG_DST, e.c}};
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
  };

  Entry& entry(const GemmShape& s) {
    for (Entry& e : cache_)
      if (e.shape == s) return e;
    const auto f32 = memory::data_type::f32;
    const memory::desc a = matrix_desc(s.M, s.K, s.lda, s.trans_a == Transpose::yes, f32);
    const memory::desc b = matrix_desc(s.K, s.N, s.ldb, s.trans_b == Transpose::yes, f32);
    const memory::desc c = matrix_desc(s.M, s.N, s.ldc, false, f32);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
    if (s.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(s.beta);
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine_);
    if (s.flops() > main_flops_) main_flops_ = s.flops(), main_impl_ = pd.impl_info_str();
    Entry e{s, dnnl::matmul(pd), memory(a, engine_, nullptr), memory(b, engine_, nullptr),
            memory(c, engine_, nullptr), pd.scratchpad_desc(), pd.scratchpad_desc().get_size()};
    cache_.push_back(std::move(e));
    return cache_.back();
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<Entry> cache_;  // a model has a handful of shapes: a linear search is the cheapest map
  std::vector<uint8_t> scratch_;
  std::string main_impl_;  // implementation of the largest GEMM so far ("brg:avx512_core")
  double main_flops_ = 0;
};

}  // namespace

std::string onednn_unavailable() { return ""; }
std::unique_ptr<GemmBackend> make_onednn_gemm() { return std::make_unique<OnednnGemm>(); }

#else

std::string onednn_unavailable() { return "built without oneDNN (libdnnl-dev)"; }
std::unique_ptr<GemmBackend> make_onednn_gemm() { return nullptr; }

#endif

}  // namespace detail

double bench_onednn_bf16_gemm(int64_t size, const float* A, const float* B, float* C, int repeats,
                              std::string* kernel) {
#if JOULE_HAVE_ONEDNN
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const auto f32 = memory::data_type::f32, bf16 = memory::data_type::bf16;
  const memory::desc f32_md = detail::matrix_desc(size, size, size, false, f32);
  const memory::desc bf16_md = detail::matrix_desc(size, size, size, false, bf16);
  memory a_f32(f32_md, engine, const_cast<float*>(A)), b_f32(f32_md, engine, const_cast<float*>(B));
  memory a(bf16_md, engine), b(bf16_md, engine), c(f32_md, engine, C);
  dnnl::reorder(a_f32, a).execute(stream, a_f32, a);
  dnnl::reorder(b_f32, b).execute(stream, b_f32, b);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(bf16_md, bf16_md, f32_md), engine);
  if (kernel != nullptr) *kernel = pd.impl_info_str();
  dnnl::matmul matmul(pd);
  const std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
  matmul.execute(stream, args);  // warm-up
  stream.wait();
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    matmul.execute(stream, args);
    stream.wait();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
#else
  (void)size, (void)A, (void)B, (void)C, (void)repeats, (void)kernel;
  JOULE_FAIL_INPUT("bf16 GEMM needs oneDNN: this build has none (libdnnl-dev)");
#endif
}

}  // namespace joule
