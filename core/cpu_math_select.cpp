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

std::vector<BackendTiming> time_cpu_math(const std::vector<GemmWorkload>& workload, int min_passes,
                                         double min_seconds) {
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
  for (size_t b = 0; b < backends.size(); ++b)
    if (backends[b]) timings[b].shape_seconds.assign(workload.size(), 1e30);
  std::vector<double> timed(backends.size(), 0.0);
  constexpr int max_passes = 10;
  for (int pass = 0; pass < max_passes; ++pass) {
    if (pass >= min_passes && *std::min_element(timed.begin(), timed.end()) >= min_seconds) break;
    for (size_t b = 0; b < backends.size(); ++b) {
      if (!backends[b]) {
        timed[b] = INFINITY;
        continue;
      }
      for (size_t i = 0; i < workload.size(); ++i) {
        const auto start = std::chrono::steady_clock::now();
        for (int call = 0; call < workload[i].calls; ++call)
          backends[b]->gemm(workload[i].shape, operands[i].a.data(), operands[i].b.data(), operands[i].c.data());
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        timings[b].shape_seconds[i] = std::min(timings[b].shape_seconds[i], s);
        timed[b] += s;
      }
    }
  }
  for (size_t b = 0; b < backends.size(); ++b) {
    if (!backends[b]) continue;
    timings[b].seconds = 0;
    for (double s : timings[b].shape_seconds) timings[b].seconds += s;
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

namespace {

bool ran(const BackendTiming& t) { return t.unavailable.empty() && t.seconds >= 0; }

std::string milliseconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f ms", seconds * 1e3);
  return text;
}

// Sends each recorded shape to the backend chosen for it; any other shape to the fallback.
class RoutingGemm final : public GemmBackend {
 public:
  RoutingGemm(const CpuMathChoice& choice, const std::vector<GemmWorkload>& workload) : fallback_(choice.kind) {
    for (CpuMath kind : all_cpu_math()) {
      const int uses = static_cast<int>(std::count(choice.per_shape.begin(), choice.per_shape.end(), kind));
      if (uses > 0 || kind == choice.kind) backends_.push_back({kind, make_gemm_backend(kind), uses});
    }
    for (size_t i = 0; i < workload.size(); ++i) routes_.push_back({workload[i].shape, &slot(choice.per_shape[i])});
  }
  CpuMath kind() const override { return fallback_; }
  std::string kernel() const override {
    std::string text;
    for (const Slot& b : backends_) {
      if (b.shapes == 0) continue;
      text += (text.empty() ? "" : "; ") + b.backend->kernel() + " for " + std::to_string(b.shapes) + " shapes";
    }
    return text;
  }
  void gemm(const GemmShape& shape, const float* A, const float* B, float* C) override {
    for (const Route& r : routes_) {
      if (r.shape == shape) return r.slot->backend->gemm(shape, A, B, C);
    }
    slot(fallback_).backend->gemm(shape, A, B, C);
  }

 private:
  struct Slot {
    CpuMath kind;
    std::unique_ptr<GemmBackend> backend;
    int shapes = 0;
  };
  struct Route {
    GemmShape shape;
    Slot* slot;
  };
  Slot& slot(CpuMath kind) {
    for (Slot& b : backends_)
      if (b.kind == kind) return b;
    JOULE_ASSERT(false, "no backend for ", cpu_math_name(kind));
    return backends_.front();
  }
  CpuMath fallback_;
  std::vector<Slot> backends_;
  std::vector<Route> routes_;
};

}  // namespace

CpuMathChoice choose_cpu_math(const std::vector<BackendTiming>& timings, const std::vector<GemmWorkload>& workload) {
  const BackendTiming* best = nullptr;
  for (const BackendTiming& t : timings)
    if (ran(t) && (best == nullptr || t.seconds < best->seconds)) best = &t;
  JOULE_ASSERT(best != nullptr, "no CPU math backend ran (Eigen always should)");
  CpuMathChoice choice;
  choice.kind = best->kind;
  double mixed = 0;
  for (size_t i = 0; i < workload.size(); ++i) {
    const BackendTiming* fastest = best;
    for (const BackendTiming& t : timings)
      if (ran(t) && t.shape_seconds[i] < fastest->shape_seconds[i]) fastest = &t;
    choice.per_shape.push_back(fastest->kind);
    mixed += fastest->shape_seconds[i];
  }
  const bool mixing = mixed < 0.98 * best->seconds;
  if (!mixing) choice.per_shape.assign(workload.size(), best->kind);
  for (CpuMath kind : all_cpu_math())
    if (std::count(choice.per_shape.begin(), choice.per_shape.end(), kind) > 0)
      choice.name += (choice.name.empty() ? "" : "+") + std::string(cpu_math_name(kind));
  if (workload.empty()) choice.name = cpu_math_name(best->kind);

  std::string whole, skipped;
  for (const BackendTiming& t : timings) {
    if (ran(t)) {
      whole += std::string(whole.empty() ? "" : ", ") + cpu_math_name(t.kind) + " " + milliseconds(t.seconds);
    } else {
      skipped += std::string("; ") + cpu_math_name(t.kind) + " not tried: " + t.unavailable;
    }
  }
  const std::string shapes = std::to_string(workload.size()) + " GEMM shapes";
  choice.reason = mixing ? "fastest per shape of the model's " + shapes + ": " + milliseconds(mixed) +
                               " per step; whole step on one backend: " + whole
                         : "fastest on the model's " + shapes + ": " + whole + " per step";
  choice.reason += skipped;
  return choice;
}

std::unique_ptr<GemmBackend> make_chosen_gemm(const CpuMathChoice& choice, const std::vector<GemmWorkload>& workload) {
  JOULE_ASSERT(choice.per_shape.size() == workload.size(), "a choice for another workload");
  const bool single = std::all_of(choice.per_shape.begin(), choice.per_shape.end(),
                                  [&](CpuMath kind) { return kind == choice.kind; });
  if (single) return make_gemm_backend(choice.kind);
  return std::make_unique<RoutingGemm>(choice, workload);
}

}  // namespace joule
