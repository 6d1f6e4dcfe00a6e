// Inverted dropout: in training each element is kept with probability 1 − p and scaled by
// 1 / (1 − p), so evaluation is the identity. The mask is a pure function of (ctx.seed, ctx.rank,
// ctx.step, site, element index) — identical for any thread count, reproducible after a resume,
// and re-derived identically by a repeated forward call with the same Context.
//
// Only f32 on the CPU is implemented here; other dtypes and devices are rejected with an
// invalid_input error naming the argument.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

// x f32 [any shape] → y f32 [same shape], mask u8 [same shape] (1 = kept), both allocated or reused
// with ensure_tensor. p in [0, 1) is the drop probability. `site` tells the dropout layers of one
// model apart (each its own range of draws); sites < 2^24, tensors < 2^40 elements. The draw
// scheme (dropout.cpp's top comment) is part of the contract: other backends reproduce the mask.
// When !training or p == 0: y = x and the mask is all ones.
void dropout_forward(Context& ctx, Tensor& y, Tensor& mask, const Tensor& x, float p, uint32_t site, bool training);

// dx = dy · mask / (1 − p), with the mask and p of the forward pass. dx may be dy itself (in place).
void dropout_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& mask, float p);

}  // namespace joule
