// joule-bench energy [--step-ms MS] [--window-s S] [--marks-per-step M]
// Times what energy accounting adds to training, on this machine: a meter read (RAPL or the
// estimate, whichever this rank uses), a phase mark (a clock read + PhaseClock::enter), and a
// closed window (meter read, accountant, JSON record, one flushed line in a rank log). Then the
// overhead per training step: M marks + the window cost spread over the steps of one window,
// as a share of the step time given (scripts/bench/energy_overhead.sh measures it).
#include "examples/bench_energy.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/exit_status.h"
#include "distributed/communicator.h"
#include "energy/tensorboard_writer.h"
#include "energy/window_log.h"
#include "energy/estimate_meter.h"
#include "energy/phase_clock.h"
#include "energy/rapl_meter.h"
#include "examples/cli.h"

namespace joule::bench {
namespace {

template <class F>
double ns_per_call(int count, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) f(i);
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / count;
}

}  // namespace

int energy_main(int argc, char** argv) {
  double step_ms = 15, window_s = 2, marks_per_step = 6;
  try {
    CLI::App app("joule-bench energy: the cost of energy measurement and accounting, per operation",
                 "joule-bench energy");
    bool help = false;
    cli::setup(app, &help);
    app.add_option("--step-ms", step_ms, "training step time the overhead is a share of (ms)")->capture_default_str()
        ->check(cli::greater_than(0));
    app.add_option("--window-s", window_s, "energy.window_s of the run (s)")->capture_default_str()->check(cli::greater_than(0));
    app.add_option("--marks-per-step", marks_per_step, "phase marks per step")->capture_default_str()->check(cli::at_least(0));
    cli::parse(app, argc - 1, argv + 1);
    if (help) return std::fputs(app.help().c_str(), stdout), 0;
  } catch (const std::exception& e) {
    return report_error("joule-bench", -1, e);  // core/exit_status.h
  }

  std::string warning;
  const std::unique_ptr<energy::Meter> meter = energy::make_cpu_meter(12, 0, &warning);
  double sink = 0;
  const double read_ns = ns_per_call(20000, [&](int) { sink += meter->read().total_j(); });
  energy::PhaseClock clock(monotonic_seconds());
  const double mark_ns = ns_per_call(1000000, [&](int i) {
    clock.enter(static_cast<energy::Phase>(i % 5), monotonic_seconds());
  });
  const std::string dir = (std::filesystem::temp_directory_path() / ("joule-bench-energy-" + std::to_string(getpid()))).string();
  double window_ns = 0;
  int64_t windows = 0;
  {
    std::filesystem::create_directories(dir);
    energy::WindowLog log(dir + "/rank-00000.jsonl", 0, "bench", *meter, /*window_s=*/1e9,
                          monotonic_seconds(), unix_seconds());
    window_ns = ns_per_call(5000, [&](int i) {
      log.step_done(i + 1, 32);
      log.close_window(i + 1, {32, "f32", 0}, "", monotonic_seconds());
    });
    windows = log.windows();
  }
  std::filesystem::remove_all(dir);
  JOULE_ASSERT(windows == 5000, "expected 5000 windows, wrote ", windows);

  const double step_ns = step_ms * 1e6;
  const double steps_per_window = std::max(1.0, window_s * 1e9 / step_ns);
  const double per_step_ns = marks_per_step * mark_ns + window_ns / steps_per_window;
  std::printf("# meter: %s%s\n", meter->sources().front().c_str(), warning.empty() ? "" : " (RAPL unusable)");
  std::printf("%-34s %14s\n", "operation", "time");
  std::printf("%-34s %11.0f ns\n", "meter read", read_ns);
  std::printf("%-34s %11.0f ns\n", "phase mark (clock read + enter)", mark_ns);
  std::printf("%-34s %11.0f ns\n", "window (read, account, log line)", window_ns);
  std::printf("%-34s %11.0f ns\n", "per step", per_step_ns);
  std::printf("%-34s %11.2f ms\n", "step time (given)", step_ms);
  std::printf("%-34s %12.4f %%   (%s the 1%% budget)\n", "overhead", 100 * per_step_ns / step_ns,
              per_step_ns / step_ns <= 0.01 ? "within" : "OVER");
  return sink < 0 ? 1 : (per_step_ns / step_ns <= 0.01 ? 0 : 1);
}

}  // namespace joule::bench
