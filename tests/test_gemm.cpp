// Every available CPU math backend (core/gemm.h) against a double-precision triple loop, for every
// transpose combination, alpha/beta, padded leading dimensions and odd sizes; the Eigen reference
// too; availability rules; the auto search (core/cpu_math_select.h) on a real model's GEMMs.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/build_info.h"
#include "core/context.h"
#include "core/cpu_math_select.h"
#include "core/gemm.h"
#include "core/gemm_backends.h"
#include "core/rng.h"
#include "ops/model.h"

namespace joule {
namespace {

std::vector<float> random_values(size_t n, uint64_t seed) {
  CounterRng rng(seed, 0, 0, RngStream::test);
  std::vector<float> v(n);
  for (float& x : v) x = 2.0f * rng.uniform() - 1.0f;
  return v;
}

// ctx.gemm none: the Eigen reference through gemm_f32; otherwise that backend.
void check(Context& ctx, Transpose ta, Transpose tb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
  const bool ta_ = ta == Transpose::yes, tb_ = tb == Transpose::yes;
  const int64_t lda = (ta_ ? M : K) + 3, ldb = (tb_ ? K : N) + 1, ldc = N + 2;  // padded rows
  const std::vector<float> A = random_values(static_cast<size_t>((ta_ ? K : M) * lda), 1);
  const std::vector<float> B = random_values(static_cast<size_t>((tb_ ? N : K) * ldb), 2);
  std::vector<float> C = random_values(static_cast<size_t>(M * ldc), 3);
  const std::vector<float> C0 = C;
  gemm_f32(ctx, ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = ta_ ? A[static_cast<size_t>(k * lda + i)] : A[static_cast<size_t>(i * lda + k)];
        const double b = tb_ ? B[static_cast<size_t>(j * ldb + k)] : B[static_cast<size_t>(k * ldb + j)];
        sum += a * b;
      }
      const double expected = alpha * sum + beta * C0[static_cast<size_t>(i * ldc + j)];
      // f32 accumulation over K terms of magnitude <= 1: error grows ~ sqrt(K) · 2^-24 · K
      ASSERT_NEAR(C[static_cast<size_t>(i * ldc + j)], expected, 1e-5 * (K + 1)) << "C[" << i << ", " << j << "]";
    }
    for (int64_t j = N; j < ldc; ++j)  // padding untouched
      ASSERT_EQ(C[static_cast<size_t>(i * ldc + j)], C0[static_cast<size_t>(i * ldc + j)]);
  }
}

void check_all_shapes(Context& ctx) {
  for (Transpose ta : {Transpose::no, Transpose::yes}) {
    for (Transpose tb : {Transpose::no, Transpose::yes}) {
      check(ctx, ta, tb, 7, 5, 3, 1.0f, 0.0f);
      check(ctx, ta, tb, 33, 17, 130, 0.5f, 1.0f);
      check(ctx, ta, tb, 130, 70, 65, -1.0f, 0.25f);
      check(ctx, ta, tb, 1, 300, 257, 1.0f, 1.0f);
    }
  }
}

TEST(Gemm, EigenReferenceMatchesDoubleLoops) {
  Context ctx = make_cpu_context(2, 0);  // both threads, so the threaded GEMM paths run
  check_all_shapes(ctx);
}

TEST(Gemm, EveryAvailableBackendMatchesDoubleLoops) {
  Context ctx = make_cpu_context(2, 0);
  int ran = 0;
  for (CpuMath kind : all_cpu_math()) {
    if (!cpu_math_unavailable(kind).empty()) continue;
    SCOPED_TRACE(cpu_math_name(kind));
    ctx.gemm = make_gemm_backend(kind);
    EXPECT_EQ(ctx.gemm->kind(), kind);
    check_all_shapes(ctx);
    check_all_shapes(ctx);  // again: cached per-shape state (oneDNN primitives) gives the same results
    ++ran;
  }
  EXPECT_GE(ran, 1 + JOULE_HAVE_ONEDNN);  // Eigen always; oneDNN whenever the build has it
}

TEST(Gemm, EmptyInnerDimensionScalesC) {
  Context ctx = make_cpu_context(1, 0);
  for (CpuMath kind : all_cpu_math()) {
    if (!cpu_math_unavailable(kind).empty()) continue;
    ctx.gemm = make_gemm_backend(kind);
    std::vector<float> C = {1, 2, 3, 4};
    gemm_f32(ctx, Transpose::no, Transpose::no, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
    EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2})) << cpu_math_name(kind);
  }
}

TEST(Gemm, NamesRoundTripAndUnknownNamesAreRefused) {
  for (CpuMath kind : all_cpu_math()) {
    CpuMath parsed = CpuMath::eigen;
    ASSERT_TRUE(parse_cpu_math(cpu_math_name(kind), &parsed));
    EXPECT_EQ(parsed, kind);
  }
  CpuMath parsed;
  EXPECT_FALSE(parse_cpu_math("mkl", &parsed));
  EXPECT_FALSE(parse_cpu_math("auto", &parsed));  // auto is a selection, not a backend
}

TEST(Gemm, BuildWithoutABackendSaysSo) {
  EXPECT_EQ(cpu_math_unavailable(CpuMath::eigen), "");
  if (!JOULE_HAVE_ONEDNN) {
    EXPECT_NE(cpu_math_unavailable(CpuMath::onednn).find("built without oneDNN"), std::string::npos);
  } else {
    EXPECT_NE(make_gemm_backend(CpuMath::onednn)->kernel().find("onednn"), std::string::npos);
  }
  if (!JOULE_HAVE_BLAS) {
    EXPECT_NE(cpu_math_unavailable(CpuMath::openblas).find("built without OpenBLAS"), std::string::npos);
  }
}

TEST(Gemm, OpenblasCoresAreRankedByTheirIsa) {
  EXPECT_EQ(detail::openblas_core_isa_rank("Prescott"), 0);
  EXPECT_EQ(detail::openblas_core_isa_rank("Sandybridge"), 1);
  EXPECT_EQ(detail::openblas_core_isa_rank("Haswell"), 2);
  EXPECT_EQ(detail::openblas_core_isa_rank("Zen"), 2);
  EXPECT_EQ(detail::openblas_core_isa_rank("SkylakeX"), 3);
  EXPECT_EQ(detail::openblas_core_isa_rank("COOPERLAKE"), 3);
  EXPECT_EQ(detail::openblas_core_isa_rank("NoSuchCore"), -1);
  EXPECT_GE(detail::cpu_isa_rank(), 0);
}

TEST(CpuMathSelect, RecorderCountsDistinctShapes) {
  GemmRecorder recorder;
  std::vector<float> a(12, 1.0f), b(12, 1.0f), c(9, 0.0f);
  const GemmShape s{Transpose::no, Transpose::no, 3, 3, 4, 1.0f, 0.0f, 4, 3, 3};
  recorder.gemm(s, a.data(), b.data(), c.data());
  recorder.gemm(s, a.data(), b.data(), c.data());
  GemmShape other = s;
  other.beta = 1.0f;
  recorder.gemm(other, a.data(), b.data(), c.data());
  ASSERT_EQ(recorder.workload().size(), 2u);
  EXPECT_EQ(recorder.workload()[0].calls, 2);
  EXPECT_EQ(recorder.workload()[1].calls, 1);
  EXPECT_FLOAT_EQ(c[0], 8.0f);  // computed as well as recorded: 4 + 4
}

std::vector<GemmWorkload> two_shapes() {
  GemmWorkload a{{Transpose::no, Transpose::no, 64, 32, 16, 1.0f, 0.0f, 16, 32, 32}, 1};
  GemmWorkload b = a;
  b.shape.trans_a = Transpose::yes;
  b.shape.lda = 64;
  return {a, b};
}

TEST(CpuMathSelect, ChoosesTheFastestBackendThatRan) {
  std::vector<BackendTiming> timings(3);
  timings[0] = {CpuMath::onednn, "k", "", 0.004, 0, {0.002, 0.002}};
  timings[1] = {CpuMath::openblas, "", "core too old", -1, 0, {}};
  timings[2] = {CpuMath::eigen, "k", "", 0.003, 0, {0.0015, 0.0015}};
  const CpuMathChoice choice = choose_cpu_math(timings, two_shapes());
  EXPECT_EQ(choice.kind, CpuMath::eigen);
  EXPECT_EQ(choice.name, "eigen");
  EXPECT_EQ(choice.per_shape, (std::vector<CpuMath>{CpuMath::eigen, CpuMath::eigen}));
  EXPECT_NE(choice.reason.find("2 GEMM shapes"), std::string::npos) << choice.reason;
  EXPECT_NE(choice.reason.find("openblas not tried: core too old"), std::string::npos) << choice.reason;
  timings[0] = {CpuMath::onednn, "k", "", 0.001, 0, {0.0005, 0.0005}};
  EXPECT_EQ(choose_cpu_math(timings, two_shapes()).kind, CpuMath::onednn);
}

// Each shape goes to its fastest backend when that saves >= 2% of the step; the router sends it there.
TEST(CpuMathSelect, MixesBackendsPerShapeOnlyWhenItPays) {
  std::vector<BackendTiming> timings(3);
  timings[0] = {CpuMath::onednn, "k", "", 0.003, 0, {0.001, 0.002}};
  timings[1] = {CpuMath::openblas, "", "core too old", -1, 0, {}};
  timings[2] = {CpuMath::eigen, "k", "", 0.0035, 0, {0.0025, 0.001}};
  const std::vector<GemmWorkload> workload = two_shapes();
  CpuMathChoice choice = choose_cpu_math(timings, workload);
  EXPECT_EQ(choice.kind, CpuMath::onednn);
  EXPECT_EQ(choice.per_shape, (std::vector<CpuMath>{CpuMath::onednn, CpuMath::eigen}));
  EXPECT_EQ(choice.name, "onednn+eigen");
  EXPECT_NE(choice.reason.find("fastest per shape"), std::string::npos) << choice.reason;
  if (JOULE_HAVE_ONEDNN) {
    std::unique_ptr<GemmBackend> router = make_chosen_gemm(choice, workload);
    const std::string kernel = router->kernel();
    EXPECT_NE(kernel.find("onednn"), std::string::npos) << kernel;
    EXPECT_NE(kernel.find("eigen"), std::string::npos) << kernel;
    Context ctx = make_cpu_context(1, 0);
    ctx.gemm = std::move(router);
    check(ctx, Transpose::no, Transpose::no, 64, 32, 16, 1.0f, 0.0f);  // a shape routed by the workload
    check(ctx, Transpose::yes, Transpose::no, 33, 17, 130, 0.5f, 1.0f);  // one it never saw: the fallback
  }
  timings[2].shape_seconds[1] = 0.00199;  // saves 0.3%: not worth two libraries
  choice = choose_cpu_math(timings, workload);
  EXPECT_EQ(choice.per_shape, (std::vector<CpuMath>{CpuMath::onednn, CpuMath::onednn}));
  EXPECT_EQ(choice.name, "onednn");
}

// The auto search on the MLP's own GEMMs: every backend that ran agrees with Eigen, and the chosen
// one's GEMM matches the Eigen reference on each of the model's shapes to 1e-5 (relative to the
// largest entry: f32 sums of up to 1024 terms in another order).
TEST(CpuMathSelect, AutoChoiceMatchesEigenOnTheModelsShapes) {
  Context ctx = make_cpu_context(2, 0);
  pb::ModelConfig config;
  config.mutable_mlp()->add_hidden(1024);
  config.mutable_mlp()->add_hidden(1024);
  const InputShape input;
  std::unique_ptr<Model> model = make_model(config, input, ctx);
  const std::vector<GemmWorkload> workload = record_model_gemms(ctx, *model, 128, input);
  EXPECT_EQ(ctx.gemm, nullptr);  // restored
  // 3 linear layers: 3 forward, 3 weight gradients, 2 input gradients (the first layer needs none)
  int calls = 0;
  for (const GemmWorkload& w : workload) calls += w.calls;
  EXPECT_EQ(calls, 8);
  const std::vector<BackendTiming> timings = time_cpu_math(workload, 1, 0.0);
  for (const BackendTiming& t : timings) {
    if (!t.unavailable.empty()) continue;
    EXPECT_GT(t.seconds, 0) << cpu_math_name(t.kind);
    EXPECT_LE(t.max_error, 1e-4) << cpu_math_name(t.kind);
  }
  const CpuMathChoice choice = choose_cpu_math(timings, workload);
  std::shared_ptr<GemmBackend> chosen = make_chosen_gemm(choice, workload);
  for (size_t i = 0; i < workload.size(); ++i) {
    const GemmShape& s = workload[i].shape;
    SCOPED_TRACE(s.describe());
    const int64_t a_rows = s.trans_a == Transpose::yes ? s.K : s.M, b_rows = s.trans_b == Transpose::yes ? s.N : s.K;
    const std::vector<float> A = random_values(static_cast<size_t>(a_rows * s.lda), 10 + i);
    const std::vector<float> B = random_values(static_cast<size_t>(b_rows * s.ldb), 20 + i);
    std::vector<float> got = random_values(static_cast<size_t>(s.M * s.ldc), 30 + i), want = got;
    chosen->gemm(s, A.data(), B.data(), got.data());
    gemm_f32_eigen(s, A.data(), B.data(), want.data());
    double diff = 0, scale = 0;
    for (size_t j = 0; j < want.size(); ++j) {
      diff = std::max(diff, static_cast<double>(std::fabs(got[j] - want[j])));
      scale = std::max(scale, static_cast<double>(std::fabs(want[j])));
    }
    EXPECT_LE(diff / scale, 1e-5) << cpu_math_name(choice.per_shape[i]);
  }
}

}  // namespace
}  // namespace joule
