// joule-bench: micro-benchmarks that verify their results and print one table (nccl-tests style).
//   joule-bench gemm [--size N] [--threads T] [--repeats R] [--backend all|onednn|openblas|eigen|bf16]
//   joule-bench cpu-math --config FILE [--batch N] [--threads T] [--passes P]   (examples/bench_cpu_math.h)
//   joule-bench energy [--step-ms MS] [--window-s S] [--marks-per-step M]   (examples/bench_energy.h)
//   joule-bench controller [--ranks R] [--windows N] [--window-s S] [--step-ms X]   (examples/bench_controller.h;
//                          under mpirun -np R it also times the controller's all-reduce)
//   joule-bench allreduce [--min-bytes 1K] [--max-bytes 256M] [--iters N] [--warmup N]
//                         [--bucket-mb MB] [--first-bucket-mb MB] [--no-overlap]   (under mpirun)
// gemm: f32 C = A·B (N×N×N, row-major, the layout of our linear layers) through each CPU math backend of
// core/gemm.h (one row each, with the kernel or ISA it runs here; unavailable ones say why), and bf16
// inputs with f32 output through oneDNN; GFLOP/s is the best of R timed repeats after one warm-up; the
// result is checked against a double-precision dot product on sampled entries (of the bf16-rounded
// inputs for bf16; #wrong counts entries off by more than 1e-4 relative).
// allreduce: for sizes doubling from min to max bytes, a raw all-reduce (Communicator::all_reduce_sum,
// i.e. one MPI_Allreduce, on a float buffer) against the GradientReducer on a ParameterArena of the
// same bytes split into 8 parameters (all reported ready in reverse order, then finish(1): a sum, as
// the raw call). Each time is the median over --iters after --warmup, raw and reducer interleaved
// iteration by iteration so both see the same machine, averaged over ranks; algbw = bytes / time,
// busbw = algbw · 2(n−1)/n (nccl-tests). Timed buffers hold zeros (MPI's speed does not depend on the
// values); a separate run of each on rank-dependent values is checked exactly (#wrong: elements of
// either result, all ranks, differing from the sum). Rank 0 prints; exit status 1 when #wrong > 0.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/eigen.h"
#include "core/gemm.h"
#include "examples/bench_controller.h"
#include "examples/bench_cpu_math.h"
#include "examples/bench_energy.h"

#include "core/context.h"
#include "core/error.h"
#include "core/exit_status.h"
#include "distributed/gradient_reducer.h"
#include "distributed/make_communicator.h"
#include "examples/cli.h"

namespace {


using joule::MatrixR;

// Rounds to the nearest bf16 (ties to even), as oneDNN's f32→bf16 reorder does.
float round_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

// Entries of C checked against a double dot product of (possibly bf16-rounded) A and B; returns
// how many differ by more than 1e-4 relative.
int count_wrong(const MatrixR& a, const MatrixR& b, const MatrixR& c, int size, bool bf16) {
  int wrong = 0;
  for (int k = 0; k < 64; ++k) {
    const int i = (k * 7919) % size, j = (k * 104729) % size;
    double expected = 0;
    for (int p = 0; p < size; ++p) {
      const float x = a(i, p), y = b(p, j);
      expected += bf16 ? static_cast<double>(round_to_bf16(x)) * round_to_bf16(y) : static_cast<double>(x) * y;
    }
    if (!(std::fabs(expected - c(i, j)) <= 1e-4 * std::max(1.0, std::fabs(expected)))) ++wrong;
  }
  return wrong;
}

// One row per backend (and bf16 through oneDNN): best of `repeats` after a warm-up, verified.
int bench_gemm(int size, int threads, int repeats, const std::string& which) {
  joule::Context ctx = joule::make_cpu_context(threads, 0);
  MatrixR a = MatrixR::Random(size, size), b = MatrixR::Random(size, size), c(size, size);
  const double flops = 2.0 * size * size * static_cast<double>(size);
  std::printf("%-9s %-9s %6s %8s %10s %10s %7s  %s\n", "op", "backend", "size", "threads", "time_ms", "GFLOP/s",
              "#wrong", "kernel");
  int failures = 0;
  auto row = [&](const char* op, const char* backend, double seconds, int wrong, const std::string& kernel) {
    std::printf("%-9s %-9s %6d %8d %10.3f %10.1f %7d  %s\n", op, backend, size, ctx.num_threads, seconds * 1e3,
                flops / seconds / 1e9, wrong, kernel.c_str());
    failures += wrong > 0;
  };
  auto unavailable = [&](const char* op, const char* backend, const std::string& why) {
    std::printf("%-9s %-9s %6d %8d %10s %10s %7s  unavailable: %s\n", op, backend, size, ctx.num_threads, "-", "-", "-",
                why.c_str());
  };
  // one product through ctx (its backend and precision): the best of `repeats` after a warm-up
  // (oneDNN creates its primitives there)
  auto best_seconds = [&] {
    auto multiply = [&] {
      joule::gemm_f32(ctx, joule::Transpose::no, joule::Transpose::no, size, size, size, 1.0f, a.data(), size,
                      b.data(), size, 0.0f, c.data(), size);
    };
    multiply();
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      multiply();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
  };
  for (joule::CpuMath kind : joule::all_cpu_math()) {
    if (which != "all" && which != joule::cpu_math_name(kind)) continue;
    const std::string why = joule::cpu_math_unavailable(kind);
    if (!why.empty()) {
      unavailable("gemm_f32", joule::cpu_math_name(kind), why);
      continue;
    }
    ctx.gemm = joule::make_gemm_backend(kind);
    const double best = best_seconds();
    row("gemm_f32", joule::cpu_math_name(kind), best, count_wrong(a, b, c, size, false), ctx.gemm->kernel());
  }
  if (which == "all" || which == "bf16") {  // the path training takes at train.precision "bf16"
    const std::string why = joule::bf16_unavailable_reason();
    if (!why.empty()) {
      unavailable("gemm_bf16", "onednn", why);
    } else {
      ctx.precision = joule::Precision::bf16;
      const double best = best_seconds();
      row("gemm_bf16", "onednn", best, count_wrong(a, b, c, size, true),
          ctx.gemm_bf16->kernel() + "; f32→bf16 conversion timed");
      ctx.precision = joule::Precision::f32;
    }
  }
  return failures == 0 ? 0 : 1;
}


// ---- allreduce ----------------------------------------------------------------------------------

struct AllreduceArgs {
  int64_t min_bytes = 1024;
  int64_t max_bytes = int64_t{256} << 20;
  int iters = 40;
  int warmup = 5;
  joule::ReducerOptions reducer;
};

// "4096", "1K", "256M", "1G" (binary multiples) as bytes.
int64_t parse_bytes(const std::string& flag, const std::string& text) {
  size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  const std::string suffix = used < text.size() ? text.substr(used) : "";
  int shift = -1;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  JOULE_CHECK(value >= 0 && shift >= 0 && value <= (int64_t{1} << (40 - shift)) && (value << shift) >= 4, flag,
              ": expected a byte count >= 4 like 4096, 1K, 256M or 1G, got '", text, "'");
  return static_cast<int64_t>(value) << shift;
}

// Returns false for --help (printed; exit status 0).
bool parse_allreduce_args(int argc, char** argv, AllreduceArgs* a) {
  CLI::App app("joule-bench allreduce: raw all-reduce against the GradientReducer, sizes doubling",
               "joule-bench allreduce");
  bool help = false, no_overlap = false;
  std::string min_bytes = "1K", max_bytes = "256M";
  joule::cli::setup(app, &help);
  app.add_option("--min-bytes", min_bytes, "smallest size (4096, 1K, 256M, 1G)")->capture_default_str()->type_name("BYTES");
  app.add_option("--max-bytes", max_bytes, "largest size")->capture_default_str()->type_name("BYTES");
  app.add_option("--iters", a->iters, "timed iterations per size (the median is reported)")->capture_default_str()
      ->check(joule::cli::at_least(1));
  app.add_option("--warmup", a->warmup, "untimed iterations first")->capture_default_str()->check(joule::cli::at_least(0));
  app.add_option("--bucket-mb", a->reducer.bucket_mb, "reducer bucket size (MB)")->capture_default_str()
      ->check(joule::cli::greater_than(0));
  app.add_option("--first-bucket-mb", a->reducer.first_bucket_mb, "reducer first bucket size (MB)")->capture_default_str()
      ->check(joule::cli::greater_than(0));
  app.add_flag("--no-overlap", no_overlap, "reduce after the whole backward pass, not bucket by bucket");
  joule::cli::parse(app, argc - 1, argv + 1);
  if (help) return std::fputs(app.help().c_str(), stdout), false;
  if (no_overlap) a->reducer.overlap = false;
  a->min_bytes = parse_bytes("--min-bytes", min_bytes);
  a->max_bytes = parse_bytes("--max-bytes", max_bytes);
  JOULE_CHECK(a->min_bytes <= a->max_bytes, "--min-bytes ", a->min_bytes, " exceeds --max-bytes ", a->max_bytes);
  return true;
}

struct AllreduceRow {
  int64_t bytes = 0;
  int64_t count = 0;
  double raw_s = 0;
  double reducer_s = 0;
  int buckets = 0;
  int64_t wrong = 0;
};

// One size: raw all-reduce and GradientReducer over `bytes`, checked, then timed (see the file top).
AllreduceRow measure_allreduce(joule::Communicator& comm, int64_t bytes, const AllreduceArgs& a) {
  const int64_t requested = std::max<int64_t>(1, bytes / static_cast<int64_t>(sizeof(float)));
  const int params = static_cast<int>(std::min<int64_t>(8, requested));
  joule::ParameterArena arena;
  for (int p = 0; p < params; ++p)
    arena.add("p" + std::to_string(p), {requested / params + (p + 1 == params ? requested % params : 0)});
  arena.allocate(joule::Device::cpu());
  const int64_t count = arena.total_elements();  // with padding: the bytes both sides move
  float* grads = arena.grads().data<float>();
  std::vector<float> raw(static_cast<size_t>(count));
  joule::GradientReducer reducer(arena, comm, a.reducer);
  auto reducer_step = [&] {
    reducer.begin_step();
    for (int id = params - 1; id >= 0; --id) reducer.on_grad_ready(id);
    reducer.finish(1.0f);
  };

  // check: v(rank, i) = (rank + 1)(i % 13 + 1), summed exactly to n(n+1)/2 · (i % 13 + 1)
  const int n = comm.size();
  auto fill = [&](float* data) {
    for (int64_t i = 0; i < count; ++i) data[i] = static_cast<float>((comm.rank() + 1) * (i % 13 + 1));
  };
  fill(raw.data());
  fill(grads);
  comm.all_reduce_sum(raw.data(), count);
  reducer_step();
  double wrong = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float expected = static_cast<float>(n * (n + 1) / 2 * (i % 13 + 1));
    wrong += (raw[static_cast<size_t>(i)] != expected) + (grads[i] != expected);
  }

  std::fill(raw.begin(), raw.end(), 0.0f);
  std::fill(grads, grads + count, 0.0f);
  for (int w = 0; w < a.warmup; ++w) {
    comm.all_reduce_sum(raw.data(), count);
    reducer_step();
  }
  comm.barrier();
  using Clock = std::chrono::steady_clock;
  std::vector<double> raw_times, reducer_times;
  for (int it = 0; it < a.iters; ++it) {
    const auto t0 = Clock::now();
    comm.all_reduce_sum(raw.data(), count);
    const auto t1 = Clock::now();
    reducer_step();
    const auto t2 = Clock::now();
    raw_times.push_back(std::chrono::duration<double>(t1 - t0).count());
    reducer_times.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  // the median: a 2-core machine shared with other work has spikes a mean would charge to one side
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  double sums[3] = {median(raw_times), median(reducer_times), wrong};  // seconds, seconds, wrong elements
  comm.all_reduce_sum(sums, 3);
  AllreduceRow row;
  row.bytes = count * static_cast<int64_t>(sizeof(float));
  row.count = count;
  row.raw_s = sums[0] / n;
  row.reducer_s = sums[1] / n;
  row.buckets = reducer.bucket_count();
  row.wrong = static_cast<int64_t>(sums[2]);
  return row;
}

int bench_allreduce(joule::Communicator& comm, const AllreduceArgs& a) {
  const int n = comm.size();
  const double bus_factor = 2.0 * (n - 1) / n;
  const bool print = comm.rank() == 0;
  if (print) {
    std::printf("# joule-bench allreduce: %d rank(s), f32 sum in place; time = median of %d iters after %d warm-up, "
                "averaged over ranks\n", n, a.iters, a.warmup);
    std::printf("# reducer: 8 parameters ready in reverse order, buckets %g MB first then %g MB, overlap %s; "
                "busbw = algbw * 2(n-1)/n\n#\n", a.reducer.first_bucket_mb, a.reducer.bucket_mb,
                a.reducer.overlap ? "on" : "off");
    std::printf("#%12s %12s %10s %8s %8s %10s %8s %8s %7s %6s %7s\n", "size", "count", "raw:time", "algbw", "busbw",
                "red:time", "algbw", "busbw", "buckets", "ratio", "#wrong");
    std::printf("#%12s %12s %10s %8s %8s %10s %8s %8s %7s %6s %7s\n", "(B)", "(elements)", "(us)", "(GB/s)", "(GB/s)",
                "(us)", "(GB/s)", "(GB/s)", "", "", "");
    std::fflush(stdout);
  }
  int64_t wrong = 0;
  for (int64_t bytes = a.min_bytes; bytes <= a.max_bytes; bytes *= 2) {
    const AllreduceRow row = measure_allreduce(comm, bytes, a);
    wrong += row.wrong;
    if (!print) continue;
    const double raw_algbw = static_cast<double>(row.bytes) / row.raw_s / 1e9;
    const double red_algbw = static_cast<double>(row.bytes) / row.reducer_s / 1e9;
    std::printf(" %12lld %12lld %10.1f %8.3f %8.3f %10.1f %8.3f %8.3f %7d %6.2f %7lld\n",
                static_cast<long long>(row.bytes), static_cast<long long>(row.count), row.raw_s * 1e6, raw_algbw,
                raw_algbw * bus_factor, row.reducer_s * 1e6, red_algbw, red_algbw * bus_factor, row.buckets,
                row.raw_s / row.reducer_s, static_cast<long long>(row.wrong));
    std::fflush(stdout);
  }
  return wrong == 0 ? 0 : 1;
}

// Runs on every rank: bad arguments are found before any collective (same on all ranks, rank 0
// reports them); any later error ends the whole job so no rank hangs in a collective.
int allreduce_main(int argc, char** argv) {
  std::unique_ptr<joule::Communicator> comm;
  try {
    comm = joule::make_communicator(&argc, &argv);
  } catch (const std::exception& e) {
    return joule::report_error("joule-bench", -1, e);
  }
  AllreduceArgs args;
  try {
    if (!parse_allreduce_args(argc, argv, &args)) return 0;
  } catch (const std::exception& e) {  // the same on every rank: rank 0 says it
    if (comm->rank() == 0) joule::print_error("joule-bench", -1, e);
    return joule::exit_status_for(e);
  }
  try {
    return bench_allreduce(*comm, args);
  } catch (const std::exception& e) {
    const int status = joule::report_error("joule-bench", comm->rank(), e);
    if (comm->size() > 1) comm->abort(status);
    return status;
  }
}

constexpr const char* kUsage =
    "usage: joule-bench gemm [--size N] [--threads T] [--repeats R] [--backend all|onednn|openblas|eigen|bf16]\n"
    "       joule-bench allreduce [--min-bytes 1K] [--max-bytes 256M] [--iters N] [--warmup N] "
    "[--bucket-mb MB] [--first-bucket-mb MB] [--no-overlap]\n"
    "       joule-bench energy [--step-ms MS] [--window-s S] [--marks-per-step M]\n"
    "       joule-bench controller [--ranks R] [--windows N] [--window-s S] [--step-ms X]   (mpirun -np R for the "
    "all-reduce)\n"
    "       joule-bench cpu-math --config FILE [--batch N] [--threads T] [--passes P]\n"
    "       joule-bench SUBCOMMAND --help\n";

int gemm_main(int argc, char** argv) {
  CLI::App app("joule-bench gemm: f32 GEMM through each CPU math backend, and bf16 through oneDNN",
               "joule-bench gemm");
  bool help = false;
  int size = 1024, threads = 0, repeats = 10;
  std::string backend = "all";
  joule::cli::setup(app, &help);
  app.add_option("--size", size, "N of the N x N x N product")->capture_default_str()->check(joule::cli::at_least(1));
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str()->check(joule::cli::at_least(0));
  app.add_option("--repeats", repeats, "timed repeats (the best is reported)")->capture_default_str()->check(joule::cli::at_least(1));
  app.add_option("--backend", backend, "all, onednn, openblas, eigen or bf16")->capture_default_str()
      ->check([](const std::string& value) -> std::string {
        joule::CpuMath kind;
        if (value == "all" || value == "bf16" || joule::parse_cpu_math(value, &kind)) return "";
        return "expected all, onednn, openblas, eigen or bf16, got '" + value + "'";
      });
  joule::cli::parse(app, argc - 1, argv + 1);
  if (help) return std::fputs(app.help().c_str(), stdout), 0;
  return bench_gemm(size, threads, repeats, backend);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc >= 2 ? argv[1] : "";
  if (command == "allreduce") return allreduce_main(argc, argv);
  if (command == "energy") return joule::bench::energy_main(argc, argv);
  if (command == "controller") return joule::bench::controller_main(argc, argv);
  if (command == "cpu-math") return joule::bench::cpu_math_main(argc, argv);
  if (command == "--help" || command == "-h") return std::fputs(kUsage, stdout), 0;
  try {
    JOULE_CHECK(command == "gemm", command.empty() ? "a subcommand is required" : "unknown subcommand '" + command + "'",
                "\n", kUsage);
    return gemm_main(argc, argv);
  } catch (const std::exception& e) {
    return joule::report_error("joule-bench", -1, e);  // core/exit_status.h
  }
}
