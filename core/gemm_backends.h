// Internal to core/gemm*.cpp: each backend's factory and availability check. A backend the build
// lacks still links: its factory is not called (unavailable says "built without ...").
#pragma once

#include <memory>
#include <string>

#include "core/gemm.h"

namespace joule::detail {

std::unique_ptr<GemmBackend> make_eigen_gemm();

std::string openblas_unavailable();
std::unique_ptr<GemmBackend> make_openblas_gemm();

std::string onednn_unavailable();
std::unique_ptr<GemmBackend> make_onednn_gemm();
// oneDNN's bf16 matmul (f32 operands converted per call, f32 accumulation and C).
std::string onednn_bf16_unavailable();
std::unique_ptr<GemmBackend> make_onednn_bf16_gemm();

// The widest vector ISA of this CPU and of a named OpenBLAS core, ranked: 0 SSE, 1 AVX, 2 AVX2,
// 3 AVX-512 (-1: a core name we do not know).
int cpu_isa_rank();
int openblas_core_isa_rank(const std::string& core_name);
const char* isa_rank_name(int rank);

}  // namespace joule::detail
