// joule-sim: the cluster simulator with the real energy controller (issue 13; distributed/sim_job.h).
// Runs a SimScenario (.pbtxt, core/proto/sim.proto) and writes a run directory in a run's schema
// (DESIGN.md §1) that joule-report reads: metrics.jsonl, rank-RRRRR.jsonl, summary.json, with
// energies from the simulator's physics (source "sim", not measured) and seconds of simulated time.
// --baseline runs the same job with every knob fixed at its start (clocks at f_max).
// Exit status: 0 success (an early stop is a success), 2 invalid input (arguments, scenario, GPU
// calibration; the message names the file and field, nothing is written), 3 interrupted (SIGINT or
// SIGTERM: the job stops after the step running and writes its outputs whole, stop_reason
// interrupted; a second signal ends the process at once), 1 any other failure.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/exit_status.h"
#include "distributed/sim_job.h"
#include "examples/cli.h"

namespace {

// The signal handler's state, the only global: a stop request.
std::atomic<bool> g_stop_requested{false};

extern "C" void on_stop_signal(int) {
  if (g_stop_requested.exchange(true)) {
    static const char message[] = "joule-sim: second interrupt: exiting now (status 3)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(joule::kExitInterrupted);
  }
}

struct Arguments {
  std::string scenario;
  std::string output = "runs";
  std::vector<std::string> overrides;
  bool baseline = false;
  bool quiet = false;
  bool help = false;
};

void define_options(CLI::App& app, Arguments& a) {
  app.description("joule-sim: a simulated data-parallel job driven by the energy controller");
  joule::cli::setup(app, &a.help);
  app.add_option("--scenario", a.scenario, "the scenario (protobuf text format, core/proto/sim.proto SimScenario)")
      ->type_name("FILE");
  app.add_option("--output", a.output, "parent folder of the run directory <output>/<name>/ (default runs)")
      ->type_name("DIR");
  app.add_option("--set", a.overrides, "override one scalar scenario field (repeatable, applied in order)")
      ->type_name("a.b=VALUE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  app.add_flag("--baseline", a.baseline,
               "every knob fixed at its start, clocks at f_max (run directory <name>-baseline): the comparison");
  app.add_flag("--quiet", a.quiet, "no progress lines");
  app.footer(
      "usage: joule-sim --scenario FILE.pbtxt [--output DIR] [--set a.b=VALUE]... [--baseline] [--quiet]\n"
      "       joule-sim --help");
}

std::string usage() {
  Arguments unused;
  CLI::App app("", "joule-sim");
  define_options(app, unused);
  return app.help();
}

int run(int argc, char** argv) {
  Arguments a;
  CLI::App app("", "joule-sim");
  define_options(app, a);
  joule::cli::parse(app, argc, argv);
  JOULE_CHECK(!a.scenario.empty(), "--scenario FILE is required; run 'joule-sim --help' for the usage");
  JOULE_CHECK(!a.output.empty(), "--output: expected a folder for run directories, got an empty string");
  const joule::SimJobInput input = joule::load_sim_job(a.scenario, a.overrides);  // every check, nothing written
  joule::SimJobOptions options;
  options.output = a.output;
  options.baseline = a.baseline;
  options.progress = a.quiet ? nullptr : stderr;
  options.stop_requested = &g_stop_requested;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  const joule::SimJobResult result = joule::run_sim_job(input, options);
  std::printf("%s\n", result.run_dir.c_str());
  if (!result.window_decision_s.empty()) {  // the controller's cost per window (wall time, this machine)
    std::vector<double> t = result.window_decision_s;
    std::sort(t.begin(), t.end());
    double sum = 0;
    for (double v : t) sum += v;
    const size_t p99 = std::min(t.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(t.size())));
    std::printf("controller decision per window: %zu windows, %d ranks, mean %.3f ms, p99 %.3f ms, max %.3f ms\n",
                t.size(), static_cast<int>(result.summary.world_size()), 1e3 * sum / static_cast<double>(t.size()),
                1e3 * t[p99], 1e3 * t.back());
  }
  if (result.summary.stop_reason() == "interrupted") {
    std::fprintf(stderr, "joule-sim: interrupted at step %u; the run directory is complete up to there\n",
                 result.summary.steps());
    return joule::kExitInterrupted;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return joule::cli::command_main("joule-sim", argc, argv, usage, run); }
