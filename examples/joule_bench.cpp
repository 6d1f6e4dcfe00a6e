// joule-bench: micro-benchmarks that verify their results and print one table row each.
//   joule-bench gemm [--size N] [--threads T] [--repeats R] [--backend joule|eigen]
// gemm: f32 C = A·B (N×N×N, row-major, the layout of our linear layers) through core/gemm.h
// (backend joule: what the ops use, OpenBLAS when built with it; eigen: Eigen's product); GFLOP/s is the best
// of R timed repeats after one warm-up; the result is checked against a double-precision dot
// product on sampled entries (#wrong counts entries off by more than 1e-4 relative).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/eigen.h"
#include "core/gemm.h"

#include "core/context.h"
#include "core/error.h"

namespace {


using joule::MatrixR;

int bench_gemm(int size, int threads, int repeats, bool eigen) {
  joule::Context ctx = joule::make_cpu_context(threads, 0);
  MatrixR a = MatrixR::Random(size, size), b = MatrixR::Random(size, size), c(size, size);
  auto multiply = [&] {
    (eigen ? joule::gemm_f32_eigen : joule::gemm_f32)(joule::Transpose::no, joule::Transpose::no, size, size, size,
                                                      1.0f, a.data(), size, b.data(), size, 0.0f, c.data(), size);
  };
  multiply();  // warm-up
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    multiply();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  int wrong = 0;
  for (int k = 0; k < 64; ++k) {
    const int i = (k * 7919) % size, j = (k * 104729) % size;
    double expected = 0;
    for (int p = 0; p < size; ++p) expected += static_cast<double>(a(i, p)) * b(p, j);
    if (std::fabs(expected - c(i, j)) > 1e-4 * std::max(1.0, std::fabs(expected))) ++wrong;
  }
  const double gflops = 2.0 * size * size * static_cast<double>(size) / best / 1e9;
  std::printf("%-6s %-9s %6s %8s %10s %10s %7s\n", "op", "backend", "size", "threads", "time_ms", "GFLOP/s", "#wrong");
  std::printf("%-6s %-9s %6d %8d %10.3f %10.1f %7d\n", "gemm", eigen ? "eigen" : joule::gemm_backend(), size,
              ctx.num_threads, best * 1e3, gflops, wrong);
  return wrong == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    JOULE_CHECK(!args.empty() && args[0] == "gemm", "usage: joule-bench gemm [--size N] [--threads T] [--repeats R] [--backend joule|eigen]");
    int size = 1024, threads = 0, repeats = 10;
    bool eigen = false;
    for (size_t i = 1; i < args.size(); ++i) {
      JOULE_CHECK(i + 1 < args.size(), args[i], " needs a value");
      if (args[i] == "--backend") {
        JOULE_CHECK(args[i + 1] == "joule" || args[i + 1] == "eigen", "--backend: expected joule or eigen");
        eigen = args[++i] == "eigen";
        continue;
      }
      const int value = std::stoi(args[i + 1]);
      if (args[i] == "--size") {
        size = value;
      } else if (args[i] == "--threads") {
        threads = value;
      } else if (args[i] == "--repeats") {
        repeats = value;
      } else {
        JOULE_FAIL_INPUT("unknown argument '", args[i], "'");
      }
      ++i;
    }
    JOULE_CHECK(size >= 1 && repeats >= 1 && threads >= 0, "--size and --repeats must be >= 1, --threads >= 0");
    return bench_gemm(size, threads, repeats, eigen);
  } catch (const joule::Error& e) {
    std::fprintf(stderr, "joule-bench: error: %s\n", e.what());
    return e.kind() == joule::ErrorKind::invalid_input ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "joule-bench: error: %s\n", e.what());
    return 2;
  }
}
