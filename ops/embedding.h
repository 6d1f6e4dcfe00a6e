// Embedding lookup: y[s, :] = table[ids[s], :] for every position s of an id tensor of any shape
// (token and position embeddings). The backward pass scatter-adds into a dense table gradient;
// repeated ids accumulate.
//
// Dimension letters: S... the shape of ids (e.g. [B, T]), M = prod(S) positions, V table rows
// (vocabulary), D embedding width.
// Only i32 ids and an f32 table on the CPU are implemented; other dtypes and devices are rejected
// with an invalid_input error naming the argument.
#pragma once

#include "core/context.h"
#include "core/tensor.h"
#include "ops/parameters.h"

namespace joule {

// ids i32 [S...] with values in [0, V) (an error names the first bad id and its flat position),
// table f32 [V, D] → y f32 [S..., D] (allocated or reused with ensure_tensor).
void embedding_forward(Context& ctx, Tensor& y, const Tensor& ids, const Tensor& table);

// dy f32 [S..., D], ids i32 [S...] as in the forward pass
// → dtable f32 [V, D], an already-allocated view (arena slot): with `mode` overwrite every row is
// rewritten (zero where no id points), with accumulate the scatter-add lands on the existing values.
void embedding_backward(Context& ctx, Tensor& dtable, const Tensor& dy, const Tensor& ids, GradMode mode);

}  // namespace joule
