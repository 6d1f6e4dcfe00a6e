// dtype conversion on the GPU between f32 and bf16 (the compute copies of mixed precision): f32 →
// bf16 rounds to nearest even (as core/dtype.h's f32_to_bf16; a NaN stays a NaN), bf16 → f32 is exact.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule::cuda {

// dst becomes `dtype` with src's shape on the context's device (reused when it already is).
void convert(Context& ctx, Tensor& dst, const Tensor& src, DType dtype);

}  // namespace joule::cuda
