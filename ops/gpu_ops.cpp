// See gpu_ops.h.
#include "ops/gpu_ops.h"

namespace joule {

GpuOps& gpu_ops(const Context& ctx, const char* op) {
  JOULE_CHECK(ctx.gpu_ops != nullptr, op, ": the context is on ", ctx.device.str(),
              " but has no GPU ops (built without CUDA, or not made by make_cuda_context)");
  return *ctx.gpu_ops;
}

}  // namespace joule
