// Argument checks shared by the GPU ops: a tensor on the context's device with an expected rank and
// dtype; errors name the op and the argument (invalid_input), as ops/ does on the CPU.
#pragma once

#include <initializer_list>

#include "core/context.h"
#include "core/tensor.h"

namespace joule::cuda {

// rank < 0: any rank. dtypes: the accepted ones.
void check_gpu_tensor(const Context& ctx, const Tensor& t, const char* op, const char* name, int rank,
                      std::initializer_list<DType> dtypes);

// Blocks of 256 threads for n elements, at most 1024 blocks (the kernels loop over the rest).
unsigned blocks_for(int64_t n);

}  // namespace joule::cuda
