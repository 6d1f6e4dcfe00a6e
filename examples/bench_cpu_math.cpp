#include "examples/bench_cpu_math.h"

#include <cstdio>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/context.h"
#include "core/cpu_math_select.h"
#include "core/error.h"
#include "core/exit_status.h"
#include "examples/cli.h"
#include "ops/model.h"

namespace joule::bench {

int cpu_math_main(int argc, char** argv) {
  try {
    std::string config_path;
    int64_t batch = 0;
    int threads = 0, passes = 5;
    bool help = false;
    CLI::App app("joule-bench cpu-math: every CPU math backend timed on the GEMMs of a config's model",
                 "joule-bench cpu-math");
    cli::setup(app, &help);
    app.add_option("--config", config_path, "run configuration (its model and train.batch_size)")->type_name("FILE");
    app.add_option("--batch", batch, "batch size (0: the config's train.batch_size)")->capture_default_str()->check(cli::at_least(0));
    app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str()->check(cli::at_least(0));
    app.add_option("--passes", passes, "timed passes (the best is reported)")->capture_default_str()->check(cli::at_least(1));
    cli::parse(app, argc - 1, argv + 1);
    if (help) return std::fputs(app.help().c_str(), stdout), 0;
    JOULE_CHECK(!config_path.empty(), "joule-bench cpu-math: --config FILE is required");
    const pb::Config config = load_config(config_path, {}, {.check_files = false});
    if (batch == 0) batch = config.train().batch_size();
    Context ctx = make_cpu_context(threads, config.run().seed());
    const InputShape input{1, 28, 28, config.data().num_classes()};
    std::unique_ptr<Model> model = make_model(config.model(), input, ctx);
    const std::vector<GemmWorkload> workload = record_model_gemms(ctx, *model, batch, input);
    const std::vector<BackendTiming> timings = time_cpu_math(workload, passes);
    const CpuMathChoice choice = choose_cpu_math(timings, workload);

    std::printf("# %s, batch %lld, %d threads, best of %d passes\n", model->describe().c_str(),
                static_cast<long long>(batch), ctx.num_threads, passes);
    std::printf("%-22s %5s", "shape (op(A)op(B) MxNxK)", "calls");
    for (const BackendTiming& t : timings) std::printf(" %10s_ms %7s", cpu_math_name(t.kind), "GFLOP/s");
    std::printf("  auto\n");
    for (size_t i = 0; i < workload.size(); ++i) {
      const GemmShape& s = workload[i].shape;
      std::printf("%-22s %5d", (s.describe() + (s.beta != 0 ? " +C" : "")).c_str(), workload[i].calls);
      for (const BackendTiming& t : timings) {
        if (!t.unavailable.empty()) {
          std::printf(" %13s %7s", "-", "-");
        } else {
          const double sec = t.shape_seconds[i];
          std::printf(" %13.3f %7.1f", sec * 1e3, s.flops() * workload[i].calls / sec / 1e9);
        }
      }
      std::printf("  %s\n", cpu_math_name(choice.per_shape[i]));
    }
    std::printf("%-28s", "step total");
    int wrong = 0;
    for (const BackendTiming& t : timings) {
      if (t.unavailable.empty()) {
        std::printf(" %13.3f %7s", t.seconds * 1e3, "");
      } else {
        std::printf(" %13s %7s", "-", "");
        wrong += t.unavailable.find("differ") != std::string::npos;
      }
    }
    std::printf("\n");
    for (const BackendTiming& t : timings)
      std::printf("# %-8s %s\n", cpu_math_name(t.kind),
                  t.unavailable.empty() ? t.kernel.c_str() : ("unavailable: " + t.unavailable).c_str());
    std::printf("# auto would choose %s: %s\n", choice.name.c_str(), choice.reason.c_str());
    return wrong == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    return report_error("joule-bench", -1, e);  // core/exit_status.h
  }
}

}  // namespace joule::bench
