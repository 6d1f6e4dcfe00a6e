// AdamW step: CPU reference, one fused pass over the flat arrays (see adamw.h for the semantics).
#include "ops/adamw.h"

#include <cmath>

namespace joule {
namespace {

// Below this many elements an OpenMP team costs more than the loop.
constexpr int64_t kParallelMin = 1 << 14;

void check_state(Tensor& t, const Tensor& params, const char* arg) {
  if (!t.defined()) t = Tensor::zeros(params.shape(), DType::f32, params.device());
  JOULE_CHECK(t.dtype() == DType::f32 && t.shape() == params.shape(), "adamw_step: ", arg, " must be f32",
              shape_str(params.shape()), " like params, got ", t.describe());
  check_same_device(t, params, "adamw_step");
}

}  // namespace

void adamw_step(Context& ctx, Tensor& params, Tensor& m, Tensor& v, const Tensor& grads, const AdamWOptions& options,
                float lr, int64_t step) {
  JOULE_CHECK(params.defined() && params.dtype() == DType::f32, "adamw_step: params must be f32, got ",
              params.defined() ? params.describe() : "undefined");
  JOULE_CHECK(grads.defined() && grads.dtype() == DType::f32 && grads.shape() == params.shape(),
              "adamw_step: grads must be f32", shape_str(params.shape()), " like params, got ",
              grads.defined() ? grads.describe() : "undefined");
  check_same_device(grads, params, "adamw_step");
  JOULE_CHECK(params.device() == ctx.device, "adamw_step: params on ", params.device().str(), ", context on ",
              ctx.device.str());
  JOULE_CHECK(params.device().is_cpu(), "adamw_step on ", params.device().str(), ": built without CUDA");
  JOULE_CHECK(step >= 1, "adamw_step: step is 1-based, got ", step);
  JOULE_CHECK(std::isfinite(lr) && lr >= 0.0f, "adamw_step: lr must be >= 0, got ", lr);
  JOULE_CHECK(options.beta1 >= 0.0f && options.beta1 < 1.0f, "adamw_step: beta1 must be in [0, 1), got ",
              options.beta1);
  JOULE_CHECK(options.beta2 >= 0.0f && options.beta2 < 1.0f, "adamw_step: beta2 must be in [0, 1), got ",
              options.beta2);
  JOULE_CHECK(options.eps > 0.0f, "adamw_step: eps must be > 0, got ", options.eps);
  JOULE_CHECK(options.weight_decay >= 0.0f, "adamw_step: weight_decay must be >= 0, got ", options.weight_decay);
  check_state(m, params, "m");
  check_state(v, params, "v");

  // Bias corrections in double, as PyTorch computes them from a Python float step.
  const double t = static_cast<double>(step);
  const auto step_size = static_cast<float>(lr / (1.0 - std::pow(static_cast<double>(options.beta1), t)));
  const auto correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(options.beta2), t)));
  const auto decay = static_cast<float>(1.0 - static_cast<double>(lr) * options.weight_decay);
  const float b1 = options.beta1, b2 = options.beta2, eps = options.eps;

  const int64_t n = params.numel();
  float* p = params.data<float>();
  float* pm = m.data<float>();
  float* pv = v.data<float>();
  const float* g = grads.data<float>();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = b1 * pm[i] + (1.0f - b1) * gi;
    const float vi = b2 * pv[i] + (1.0f - b2) * gi * gi;
    pm[i] = mi;
    pv[i] = vi;
    p[i] = p[i] * decay - step_size * (mi / (std::sqrt(vi) / correction2_sqrt + eps));
  }
}

}  // namespace joule
