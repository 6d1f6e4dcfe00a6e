// run.cpu_math for a built model: the forced backend, or (auto) the fastest on the model's own
// GEMMs, every rank agreeing. Collective when auto: each rank times the backends on its local
// micro-batch's shapes; the times are summed over ranks, so all ranks pick the same backend.
#pragma once

#include <string>

#include "core/context.h"
#include "core/proto/config.pb.h"
#include "distributed/communicator.h"
#include "ops/model.h"

namespace joule {

struct CpuMathSelection {
  std::string name;    // "onednn", or "onednn+openblas" when auto runs shapes on several backends
  std::string kernel;  // GemmBackend::kernel() of the backend set in the context
  std::string reason;
};

// Sets ctx.gemm to the selected backend and returns what it chose and why.
CpuMathSelection select_cpu_math(const pb::RunConfig& run, Context& ctx, Model& model, int64_t rows,
                                 const InputShape& input, Communicator& comm);

}  // namespace joule
