#include "distributed/evaluator.h"

#include "distributed/distributed_sampler.h"
#include "ops/softmax_cross_entropy.h"

namespace joule {

int64_t Evaluator::eval_rows(const pb::Config& config, int64_t test_samples, int world) {
  // no larger than this rank's share: a huge eval_batch_size must not allocate for samples that do not exist
  return std::min<int64_t>(config.train().eval_batch_size(), (test_samples + world - 1) / world);
}

Evaluator::Evaluator(const Dataset& test_set, const pb::Config& config, Communicator& comm)
    : test_set_(test_set), comm_(comm) {
  loader_ = std::make_unique<BatchLoader>(test_set, eval_rows(config, test_set.size(), comm.size()),
                                          config.run().seed(), /*shuffle=*/false, /*drop_last=*/false,
                                          config.data().normalize_mean(), config.data().normalize_std(),
                                          config.data().prefetch());
}

EvalResult Evaluator::evaluate(Context& ctx, Model& model, const std::atomic<bool>* stop) {
  loader_->start_epoch_with_order(rank_eval_order(test_set_.size(), comm_.size(), comm_.rank()));
  Batch batch;
  double sums[4] = {0, 0, 0, 0};  // loss, correct, seen, ranks interrupted
  while (loader_->next(batch)) {
    if (stop != nullptr && stop->load()) {
      sums[3] = 1;
      break;
    }
    const Tensor images = to_context_device(ctx, batch.images, device_images_);  // itself on the CPU
    const Tensor labels = to_context_device(ctx, batch.labels, device_labels_);
    const Tensor& logits = model.forward(ctx, images, /*training=*/false);
    sums[0] += softmax_cross_entropy_forward(ctx, probs_, logits, labels);
    sums[1] += static_cast<double>(count_correct(ctx, logits, labels));
    sums[2] += static_cast<double>(batch.labels.numel());
  }
  comm_.all_reduce_sum(sums, 4);
  if (sums[3] > 0) return {0, 0, true};
  JOULE_ASSERT(sums[2] > 0, "empty test set");
  return {sums[1] / sums[2], sums[0] / sums[2], false};
}

}  // namespace joule
