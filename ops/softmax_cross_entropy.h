// Softmax + cross-entropy, fused and numerically stable (the row maximum is subtracted before exp),
// for classification heads. The loss is returned as a SUM over rows, not a mean, so a caller
// can divide by the global batch (all ranks, all accumulation micro-batches) itself.
//
// Dimension letters: N rows (batch), C classes.
// Only f32 logits with i32 labels on the CPU are implemented; other dtypes and devices are rejected
// with an invalid_input error naming the argument.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

// logits f32 [N, C], labels i32 [N] with values in [0, C) (an error names the first bad row)
// → probs f32 [N, C] = softmax(logits) per row, saved for the backward pass (allocated or reused
// with ensure_tensor); returns Σ_n −log softmax(logits[n])[labels[n]] in nats, accumulated in double.
double softmax_cross_entropy_forward(Context& ctx, Tensor& probs, const Tensor& logits, const Tensor& labels);

// dlogits f32 [N, C] = (probs − onehot(labels)) · scale, the gradient of scale · (summed loss).
// Typically scale = 1 / global batch size. dlogits may be the same tensor as probs (in place).
void softmax_cross_entropy_backward(Context& ctx, Tensor& dlogits, const Tensor& probs, const Tensor& labels,
                                    float scale);

// Number of rows whose argmax (the first maximum on ties) equals the label. logits f32 [N, C] and
// labels i32 [N] in [0, C), on the CPU.
int64_t count_correct(const Tensor& logits, const Tensor& labels);
// The same on the context's device (a GPU context: logits and labels on it; one wait for the count).
int64_t count_correct(Context& ctx, const Tensor& logits, const Tensor& labels);

}  // namespace joule
