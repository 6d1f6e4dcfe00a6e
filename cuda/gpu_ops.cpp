// GpuOps (ops/gpu_ops.h) implemented by cuda/X: what make_cuda_context puts into a GPU Context.
#include "cuda/gpu_ops.h"

#include "cuda/conv2d.h"
#include "cuda/device.h"
#include "cuda/linear.h"
#include "cuda/maxpool2d.h"
#include "cuda/relu.h"
#include "cuda/sgd.h"
#include "cuda/softmax_cross_entropy.h"

namespace joule {
namespace {

class CudaOps final : public GpuOps {
 public:
  void relu_forward(Context& ctx, Tensor& y, const Tensor& x) override { cuda::relu_forward(ctx, y, x); }
  void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) override {
    cuda::relu_backward(ctx, dx, dy, y);
  }
  void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias) override {
    cuda::linear_forward(ctx, y, x, weight, bias);
  }
  void linear_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                       const Tensor& weight, GradMode mode) override {
    cuda::linear_backward(ctx, dx, dweight, dbias, dy, x, weight, mode);
  }
  void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Conv2dParams& params) override {
    cuda::conv2d_forward(ctx, y, x, weight, bias, params);
  }
  void conv2d_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                       const Tensor& weight, const Conv2dParams& params, GradMode mode) override {
    cuda::conv2d_backward(ctx, dx, dweight, dbias, dy, x, weight, params, mode);
  }
  void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int kernel, int stride) override {
    cuda::maxpool2d_forward(ctx, y, argmax, x, kernel, stride);
  }
  void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax,
                          const Shape& x_shape) override {
    cuda::maxpool2d_backward(ctx, dx, dy, argmax, x_shape);
  }
  double softmax_cross_entropy_forward(Context& ctx, Tensor& probs, const Tensor& logits,
                                       const Tensor& labels) override {
    Tensor loss_sum;
    cuda::softmax_cross_entropy_forward(ctx, probs, loss_sum, logits, labels);
    return cuda::to_host(ctx, loss_sum).to_floats()[0];
  }
  void softmax_cross_entropy_backward(Context& ctx, Tensor& dlogits, const Tensor& probs, const Tensor& labels,
                                      float scale) override {
    cuda::softmax_cross_entropy_backward(ctx, dlogits, probs, labels, scale);
  }
  int64_t count_correct(Context& ctx, const Tensor& logits, const Tensor& labels) override {
    return cuda::count_correct(ctx, logits, labels);
  }
  void sgd_step(Context& ctx, Tensor& params, Tensor& momentum_buffer, const Tensor& grads, const SgdOptions& options,
                float lr) override {
    cuda::sgd_step(ctx, params, momentum_buffer, grads, options, lr);
  }
};

}  // namespace

std::shared_ptr<GpuOps> make_cuda_ops() { return std::make_shared<CudaOps>(); }

}  // namespace joule
