// Linear on the GPU (ops/linear.h is the contract and the CPU reference): y = x · weightᵀ + bias
// through cuBLAS on the context's stream, with weight in PyTorch's [OUT, IN] layout.
//   f32 tensors: strict fp32 GEMMs (CUBLAS_COMPUTE_32F: no TF32), the CPU's math;
//   bf16 tensors: bf16 inputs and outputs on the tensor cores, accumulation in fp32.
// The bias is added, and its gradient summed over the rows, by our own kernels (fp32 sums).
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/parameters.h"

namespace joule::cuda {

void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias);
void linear_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, GradMode mode);

}  // namespace joule::cuda
