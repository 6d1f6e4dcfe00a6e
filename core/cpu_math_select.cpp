#include "core/cpu_math_select.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include "core/error.h"
#include "core/rng.h"

namespace joule {
namespace {

int64_t stored_elements(int64_t rows, int64_t cols, int64_t ld, Transpose t) {
  return t == Transpose::yes ? cols * ld : rows * ld;  // [rows, cols] or its transpose, leading dim ld
}

struct Operands {
  std::vector<float> a, b, c0, c, reference;
};

Operands make_operands(const GemmShape& s, uint64_t seed) {
  Operands o;
  auto fill = [seed](std::vector<float>& v, int64_t n, uint64_t stream) {
    CounterRng rng(seed, 0, stream, RngStream::test);
    v.resize(static_cast<size_t>(n));
    for (float& x : v) x = 2.0f * rng.uniform() - 1.0f;
  };
  fill(o.a, stored_elements(s.M, s.K, s.lda, s.trans_a), 1);
  fill(o.b, stored_elements(s.K, s.N, s.ldb, s.trans_b), 2);
  fill(o.c0, s.M * s.ldc, 3);
  o.reference = o.c0;
  gemm_f32_eigen(s, o.a.data(), o.b.data(), o.reference.data());
  return o;
}

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  }
  return std::isfinite(diff) ? diff / std::max(scale, 1e-30) : INFINITY;
}

}  // namespace

void GemmRecorder::gemm(const GemmShape& shape, const float* A, const float* B, float* C) {
  auto it = std::find_if(workload_.begin(), workload_.end(), [&](const GemmWorkload& w) { return w.shape == shape; });
  if (it == workload_.end()) {
    workload_.push_back({shape, 1});
  } else {
    ++it->calls;
  }
  gemm_f32_eigen(shape, A, B, C);
}

std::vector<BackendTiming> time_cpu_math(const std::vector<GemmWorkload>& workload, int passes) {
  std::vector<Operands> operands;
  for (size_t i = 0; i < workload.size(); ++i) operands.push_back(make_operands(workload[i].shape, 7 + i));

  std::vector<BackendTiming> timings;
  std::vector<std::unique_ptr<GemmBackend>> backends;
  for (CpuMath kind : all_cpu_math()) {
    BackendTiming t;
    t.kind = kind;
    t.unavailable = cpu_math_unavailable(kind);
    std::unique_ptr<GemmBackend> backend;
    if (t.unavailable.empty()) {
      backend = make_gemm_backend(kind);
      for (size_t i = 0; i < workload.size(); ++i) {  // warm-up and check
        Operands& o = operands[i];
        o.c = o.c0;
        backend->gemm(workload[i].shape, o.a.data(), o.b.data(), o.c.data());
        t.max_error = std::max(t.max_error, relative_error(o.c, o.reference));
      }
      if (!(t.max_error <= 1e-4)) {
        char text[96];
        std::snprintf(text, sizeof text, "results differ from Eigen's by %.2g (relative)", t.max_error);
        t.unavailable = text;
        backend.reset();
      }
    }
    timings.push_back(t);
    backends.push_back(std::move(backend));
  }
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t b = 0; b < backends.size(); ++b) {
      if (!backends[b]) continue;
      const auto start = std::chrono::steady_clock::now();
      for (size_t i = 0; i < workload.size(); ++i)
        for (int call = 0; call < workload[i].calls; ++call)
          backends[b]->gemm(workload[i].shape, operands[i].a.data(), operands[i].b.data(), operands[i].c.data());
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      timings[b].seconds = timings[b].seconds < 0 ? s : std::min(timings[b].seconds, s);
    }
  }
  for (size_t b = 0; b < backends.size(); ++b)
    if (backends[b]) timings[b].kernel = backends[b]->kernel();
  return timings;
}

void warm_up_gemm(GemmBackend& backend, const std::vector<GemmWorkload>& workload) {
  for (const GemmWorkload& w : workload) {
    const GemmShape& s = w.shape;
    std::vector<float> a(static_cast<size_t>(stored_elements(s.M, s.K, s.lda, s.trans_a)));
    std::vector<float> b(static_cast<size_t>(stored_elements(s.K, s.N, s.ldb, s.trans_b)));
    std::vector<float> c(static_cast<size_t>(s.M * s.ldc));
    backend.gemm(s, a.data(), b.data(), c.data());
  }
}

CpuMathChoice choose_cpu_math(const std::vector<BackendTiming>& timings, size_t shape_count) {
  const BackendTiming* best = nullptr;
  for (const BackendTiming& t : timings)
    if (t.unavailable.empty() && t.seconds >= 0 && (best == nullptr || t.seconds < best->seconds)) best = &t;
  JOULE_ASSERT(best != nullptr, "no CPU math backend ran (Eigen always should)");
  std::string reason = "fastest on the model's " + std::to_string(shape_count) + " GEMM shapes:";
  std::string skipped;
  for (const BackendTiming& t : timings) {
    if (t.unavailable.empty() && t.seconds >= 0) {
      char text[64];
      std::snprintf(text, sizeof text, " %s %.2f ms,", cpu_math_name(t.kind), t.seconds * 1e3);
      reason += text;
    } else {
      skipped += std::string("; ") + cpu_math_name(t.kind) + " not tried: " + t.unavailable;
    }
  }
  reason.pop_back();
  return {best->kind, reason + " per step" + skipped};
}

}  // namespace joule
