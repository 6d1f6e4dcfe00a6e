// SGD step: CPU reference, one fused pass over the flat arrays (see sgd.h for the semantics).
#include "ops/sgd.h"
#include "ops/gpu_ops.h"

#include <cmath>

namespace joule {
namespace {

// Below this many elements an OpenMP team costs more than the loop.
constexpr int64_t kParallelMin = 1 << 14;

void check_optimizer_tensor(const Tensor& t, const Tensor& params, const char* arg) {
  JOULE_CHECK(t.defined(), "sgd_step: ", arg, " is undefined");
  JOULE_CHECK(t.dtype() == DType::f32 && t.shape() == params.shape(), "sgd_step: ", arg, " must be f32",
              shape_str(params.shape()), " like params, got ", t.describe());
  check_same_device(t, params, "sgd_step");
}

}  // namespace

void sgd_step(Context& ctx, Tensor& params, Tensor& momentum_buffer, const Tensor& grads, const SgdOptions& options,
              float lr) {
  if (!ctx.device.is_cpu()) return gpu_ops(ctx, "sgd_step").sgd_step(ctx, params, momentum_buffer, grads, options, lr);
  JOULE_CHECK(params.defined() && params.dtype() == DType::f32, "sgd_step: params must be f32, got ",
              params.defined() ? params.describe() : "undefined");
  check_optimizer_tensor(grads, params, "grads");
  JOULE_CHECK(params.device() == ctx.device, "sgd_step: params on ", params.device().str(), ", context on ",
              ctx.device.str());
  JOULE_CHECK(params.device().is_cpu(), "sgd_step on ", params.device().str(), ": built without CUDA");
  JOULE_CHECK(std::isfinite(lr) && lr >= 0.0f, "sgd_step: lr must be >= 0, got ", lr);
  JOULE_CHECK(options.momentum >= 0.0f, "sgd_step: momentum must be >= 0, got ", options.momentum);
  JOULE_CHECK(options.weight_decay >= 0.0f, "sgd_step: weight_decay must be >= 0, got ", options.weight_decay);
  JOULE_CHECK(!options.nesterov || options.momentum > 0.0f, "sgd_step: nesterov needs momentum > 0");

  const int64_t n = params.numel();
  float* p = params.data<float>();
  const float* g = grads.data<float>();
  const float wd = options.weight_decay;
  const float mu = options.momentum;
  if (mu == 0.0f) {
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    return;
  }
  if (!momentum_buffer.defined()) momentum_buffer = Tensor::zeros(params.shape(), DType::f32, params.device());
  check_optimizer_tensor(momentum_buffer, params, "momentum_buffer");
  float* buf = momentum_buffer.data<float>();
  const bool nesterov = options.nesterov;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float d = g[i] + wd * p[i];
    const float b = mu * buf[i] + d;
    buf[i] = b;
    p[i] -= lr * (nesterov ? d + mu * b : b);
  }
}

}  // namespace joule
