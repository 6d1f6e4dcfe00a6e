// The CUDA implementation of ops/gpu_ops.h (make_cuda_context installs it in the Context).
#pragma once

#include <memory>

#include "ops/gpu_ops.h"

namespace joule {

std::shared_ptr<GpuOps> make_cuda_ops();

}  // namespace joule
