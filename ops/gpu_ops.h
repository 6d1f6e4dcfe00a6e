// GpuOps: the GPU implementations of the ops, as ops/ reaches them. Each ops/X.cpp with a GPU
// version starts by forwarding to gpu_ops(ctx).X(...) when the context is on a GPU, so models and the
// trainer call one name per op whatever the device; cuda/gpu_ops.cpp implements this interface with
// cuda/X and make_cuda_context puts it into the Context. ops/ never includes a CUDA header.
// An op with no GPU version yet refuses GPU tensors (check_cpu_tensor names the op).
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/conv2d.h"
#include "ops/parameters.h"
#include "ops/sgd.h"

namespace joule {

class GpuOps {
 public:
  virtual ~GpuOps() = default;
  virtual void relu_forward(Context& ctx, Tensor& y, const Tensor& x) = 0;
  virtual void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) = 0;
  virtual void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias) = 0;
  virtual void linear_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy,
                               const Tensor& x, const Tensor& weight, GradMode mode) = 0;
  virtual void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                              const Conv2dParams& params) = 0;
  virtual void conv2d_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy,
                               const Tensor& x, const Tensor& weight, const Conv2dParams& params, GradMode mode) = 0;
  virtual void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int kernel, int stride) = 0;
  virtual void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax,
                                  const Shape& x_shape) = 0;
  // The loss sum read back to the host (one wait per call; a device-resident loss comes with the
  // GPU step runner).
  virtual double softmax_cross_entropy_forward(Context& ctx, Tensor& probs, const Tensor& logits,
                                               const Tensor& labels) = 0;
  virtual void softmax_cross_entropy_backward(Context& ctx, Tensor& dlogits, const Tensor& probs, const Tensor& labels,
                                              float scale) = 0;
  virtual int64_t count_correct(Context& ctx, const Tensor& logits, const Tensor& labels) = 0;
  virtual void sgd_step(Context& ctx, Tensor& params, Tensor& momentum_buffer, const Tensor& grads,
                        const SgdOptions& options, float lr) = 0;
};

// The context's GPU ops; JOULE_CHECK fails naming `op` when the context has none (a GPU device in
// a build without CUDA, or a context not made by make_cuda_context).
GpuOps& gpu_ops(const Context& ctx, const char* op);

}  // namespace joule
