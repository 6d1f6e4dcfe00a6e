// bf16 convolution on the CPU: oneDNN's convolution primitives (forward, backward data, backward
// weights) on bf16 roundings of f32 NCHW tensors, accumulating in f32 and writing f32, so callers keep
// f32 tensors in PyTorch's layouts (x [N, C, H, W], weight [K, C, R, S], y [N, K, P, Q]) — what
// torch.autocast("cpu", dtype=torch.bfloat16) does for a convolution. Each call reorders its operands
// into the layouts and the bf16 type the primitive chose for this CPU (blocked, e.g. nChw16c) and its
// f32 results back to NCHW; primitives are made once per shape and cached; buffers are shared by all
// shapes, grown to the largest need (one call at a time). Threads: the calling thread's OpenMP count.
// ops/conv2d.cpp takes this path at compute precision bf16 (ctx.conv_bf16, made on first use).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace joule {

// Letters as in ops/conv2d.h: P = (H + 2*pad - R) / stride + 1, Q likewise.
struct ConvShape {
  int64_t N = 0, C = 0, H = 0, W = 0, K = 0, R = 0, S = 0, P = 0, Q = 0, stride = 1, pad = 0;
  bool operator==(const ConvShape&) const = default;
};

class ConvBackend {
 public:
  virtual ~ConvBackend() = default;
  // The library and the implementation of the largest convolution so far:
  // "onednn 2.6.3 (brg:avx512_core_amx_bf16 forward; ...)".
  virtual std::string kernel() const = 0;
  // y = conv(x, weight) + bias (bias may be nullptr).
  virtual void forward(const ConvShape& shape, const float* x, const float* weight, const float* bias, float* y) = 0;
  // dweight (+)= ∂/∂weight, dbias (+)= Σ dy per channel (accumulate: add to the present values; dbias
  // may be nullptr), dx = ∂/∂x (overwritten; nullptr skips it).
  virtual void backward(const ConvShape& shape, const float* x, const float* weight, const float* dy, float* dx,
                        float* dweight, float* dbias, bool accumulate) = 0;
};

// A bf16 convolution backend; JOULE_CHECK fails (invalid input) with bf16_unavailable_reason()
// (core/gemm.h) where bf16 cannot run here.
std::unique_ptr<ConvBackend> make_bf16_conv();

}  // namespace joule
