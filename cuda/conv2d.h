// 2-D convolution on the GPU (ops/conv2d.h is the contract and the CPU reference) through cuDNN,
// NCHW, on the context's stream. Per shape and dtype a plan is made once and cached in the device
// state: descriptors and, for each pass, the fastest *deterministic* algorithm cuDNN's heuristics
// offer within the workspace limit (so a rerun gives the same bits). Math: f32 tensors run strict
// fp32 (CUDNN_FMA_MATH: no TF32), bf16 tensors run the tensor cores with fp32 accumulation.
// Workspaces come from the caching allocator.
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/conv2d.h"

namespace joule::cuda {

void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dParams& params);
void conv2d_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, const Conv2dParams& params, GradMode mode);

}  // namespace joule::cuda
