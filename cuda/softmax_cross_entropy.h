// Softmax + cross-entropy on the GPU (ops/softmax_cross_entropy.h is the contract and the CPU
// reference), fused and stable (row maximum subtracted). Unlike the CPU function the loss stays on
// the device: `loss_sum` becomes f32 [1] = Σ_n −log softmax(logits[n])[labels[n]], summed in a fixed
// order (one block per row, then one block over the rows), so the step never waits for the host; read
// it back only when it is logged. Labels are checked on the device: a label outside [0, C) makes
// its row's loss NaN (the step's non-finite check catches it) instead of reading out of bounds.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace joule::cuda {

// logits f32 or bf16 [N, C], labels i32 [N] → probs f32 [N, C], loss_sum f32 [1].
void softmax_cross_entropy_forward(Context& ctx, Tensor& probs, Tensor& loss_sum, const Tensor& logits,
                                   const Tensor& labels);
// dlogits f32 [N, C] = (probs − onehot(labels)) · scale; may be probs itself.
void softmax_cross_entropy_backward(Context& ctx, Tensor& dlogits, const Tensor& probs, const Tensor& labels,
                                    float scale);

// Rows whose argmax (the first maximum; a NaN never wins, as on the CPU) equals the label; logits f32
// [N, C], labels i32 [N] on the device. Waits for the stream (the count is read back).
int64_t count_correct(Context& ctx, const Tensor& logits, const Tensor& labels);

}  // namespace joule::cuda
