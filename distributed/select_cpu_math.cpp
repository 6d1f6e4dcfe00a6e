#include "distributed/select_cpu_math.h"

#include <vector>

#include "core/error.h"

namespace joule {

CpuMathSelection select_cpu_math(const pb::RunConfig& run, Context& ctx, Model& model, int64_t rows,
                                 const InputShape& input, Communicator& comm) {
  CpuMathSelection selection;
  const std::vector<GemmWorkload> workload = record_model_gemms(ctx, model, rows, input);
  std::shared_ptr<GemmBackend> backend;
  if (run.cpu_math() != "auto") {
    CpuMath kind = CpuMath::eigen;
    JOULE_CHECK(parse_cpu_math(run.cpu_math(), &kind), "run.cpu_math = \"", run.cpu_math(),
                "\": expected auto, onednn, openblas or eigen");
    backend = make_gemm_backend(kind);
    selection.name = cpu_math_name(kind);
    selection.reason = "run.cpu_math = " + run.cpu_math();
  } else {
    std::vector<BackendTiming> timings = time_cpu_math(workload);
    // every rank must choose alike: per backend, its total and per-shape times summed over ranks;
    // a backend that did not run on some rank gets an unbeatable time there
    constexpr double not_run = 1e9;
    const size_t stride = workload.size() + 1;
    std::vector<double> seconds(timings.size() * stride, not_run);
    for (size_t b = 0; b < timings.size(); ++b) {
      if (!timings[b].unavailable.empty()) continue;
      seconds[b * stride] = timings[b].seconds;
      for (size_t i = 0; i < workload.size(); ++i) seconds[b * stride + 1 + i] = timings[b].shape_seconds[i];
    }
    comm.all_reduce_sum(seconds.data(), static_cast<int64_t>(seconds.size()));
    for (size_t b = 0; b < timings.size(); ++b) {
      if (seconds[b * stride] >= not_run) {
        if (timings[b].unavailable.empty()) timings[b].unavailable = "unavailable on another rank";
        continue;
      }
      timings[b].seconds = seconds[b * stride] / comm.size();  // means over ranks
      for (size_t i = 0; i < workload.size(); ++i) timings[b].shape_seconds[i] = seconds[b * stride + 1 + i] / comm.size();
    }
    const CpuMathChoice choice = choose_cpu_math(timings, workload);
    backend = make_chosen_gemm(choice, workload);
    selection.name = choice.name;
    selection.reason = choice.reason;
  }
  warm_up_gemm(*backend, workload);
  ctx.gemm = backend;
  selection.kernel = backend->kernel();
  return selection;
}

}  // namespace joule
