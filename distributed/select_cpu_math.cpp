#include "distributed/select_cpu_math.h"

#include <vector>

#include "core/error.h"

namespace joule {

CpuMathSelection select_cpu_math(const pb::RunConfig& run, Context& ctx, Model& model, int64_t rows,
                                 const InputShape& input, Communicator& comm) {
  CpuMathSelection selection;
  const std::vector<GemmWorkload> workload = record_model_gemms(ctx, model, rows, input);
  if (run.cpu_math() != "auto") {
    JOULE_CHECK(parse_cpu_math(run.cpu_math(), &selection.kind), "run.cpu_math = \"", run.cpu_math(),
                "\": expected auto, onednn, openblas or eigen");
    selection.reason = "run.cpu_math = " + run.cpu_math();
  } else {
    std::vector<BackendTiming> timings = time_cpu_math(workload);
    // a backend that did not run on some rank must not win: it gets an unbeatable time there
    constexpr double not_run = 1e9;
    std::vector<double> seconds;
    for (const BackendTiming& t : timings) seconds.push_back(t.unavailable.empty() ? t.seconds : not_run);
    comm.all_reduce_sum(seconds.data(), static_cast<int64_t>(seconds.size()));
    for (size_t i = 0; i < timings.size(); ++i) {
      if (seconds[i] >= not_run && timings[i].unavailable.empty()) timings[i].unavailable = "unavailable on another rank";
      timings[i].seconds = seconds[i] / comm.size();  // the mean over ranks
    }
    const CpuMathChoice choice = choose_cpu_math(timings, workload.size());
    selection.kind = choice.kind;
    selection.reason = choice.reason;
  }
  std::shared_ptr<GemmBackend> backend = make_gemm_backend(selection.kind);
  warm_up_gemm(*backend, workload);
  ctx.gemm = backend;
  selection.kernel = backend->kernel();
  return selection;
}

}  // namespace joule
