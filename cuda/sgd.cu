// See sgd.h.
#include "cuda/sgd.h"

#include <cmath>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/tensor_check.h"

namespace joule::cuda {
namespace {

// d = g + wd·p; b = μ·buf + d; p −= lr·(nesterov ? d + μ·b : b) — the CPU's operations in its order.
__global__ void sgd_kernel(float* p, float* buf, const float* g, int64_t n, float lr, float wd, float mu,
                           bool nesterov) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float d = __fadd_rn(g[i], __fmul_rn(wd, p[i]));
    if (buf == nullptr) {
      p[i] = __fsub_rn(p[i], __fmul_rn(lr, d));
      continue;
    }
    const float b = __fadd_rn(__fmul_rn(mu, buf[i]), d);
    buf[i] = b;
    p[i] = __fsub_rn(p[i], __fmul_rn(lr, nesterov ? __fadd_rn(d, __fmul_rn(mu, b)) : b));
  }
}

}  // namespace

void sgd_step(Context& ctx, Tensor& params, Tensor& momentum_buffer, const Tensor& grads, const SgdOptions& options,
              float lr) {
  const char* op = "cuda::sgd_step";
  check_gpu_tensor(ctx, params, op, "params", -1, {DType::f32});
  check_gpu_tensor(ctx, grads, op, "grads", -1, {DType::f32});
  JOULE_CHECK(grads.numel() == params.numel(), op, ": grads ", grads.describe(), " must match params ",
              params.describe());
  JOULE_CHECK(std::isfinite(lr) && lr >= 0.0f, op, ": lr must be >= 0, got ", lr);
  JOULE_CHECK(options.momentum >= 0.0f, op, ": momentum must be >= 0, got ", options.momentum);
  JOULE_CHECK(options.weight_decay >= 0.0f, op, ": weight_decay must be >= 0, got ", options.weight_decay);
  JOULE_CHECK(!options.nesterov || options.momentum > 0.0f, op, ": nesterov needs momentum > 0");
  const int64_t n = params.numel();
  cudaStream_t stream = device_state(ctx).stream();
  float* buf = nullptr;
  if (options.momentum != 0.0f) {
    if (!momentum_buffer.defined()) {
      momentum_buffer = empty(ctx, params.shape());
      JOULE_CUDA_CHECK(cudaMemsetAsync(momentum_buffer.raw_data(), 0, momentum_buffer.nbytes(), stream));
    }
    check_gpu_tensor(ctx, momentum_buffer, op, "momentum_buffer", -1, {DType::f32});
    JOULE_CHECK(momentum_buffer.numel() == n, op, ": momentum_buffer ", momentum_buffer.describe(),
                " must match params");
    buf = momentum_buffer.data<float>();
  }
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n), 256, 0, stream>>>(params.data<float>(), buf, grads.data<float>(), n, lr,
                                                options.weight_decay, options.momentum, options.nesterov);
  JOULE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace joule::cuda
