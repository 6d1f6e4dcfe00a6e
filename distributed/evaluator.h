// Evaluator: test accuracy and loss of the model, the test set split over ranks (rank r takes
// samples r, r+W, ...) and the sums combined with one all-reduce. It owns its loader, built once.
// An interrupt (the stop flag set on some rank) cuts the evaluation short on that rank; every rank
// learns it from the closing all-reduce and the result is marked interrupted (not a measurement).
#pragma once

#include <atomic>
#include <memory>

#include "core/batch_loader.h"
#include "core/context.h"
#include "core/dataset.h"
#include "core/proto/config.pb.h"
#include "distributed/communicator.h"
#include "ops/model.h"

namespace joule {

struct EvalResult {
  double accuracy = 0;  // in [0, 1]
  double loss = 0;      // mean test loss
  bool interrupted = false;
};

class Evaluator {
 public:
  // The eval batch is train.eval_batch_size, at most this rank's share of the test set.
  Evaluator(const Dataset& test_set, const pb::Config& config, Communicator& comm);
  static int64_t eval_rows(const pb::Config& config, int64_t test_samples, int world);
  // Collective. stop may be null.
  EvalResult evaluate(Context& ctx, Model& model, const std::atomic<bool>* stop);

 private:
  const Dataset& test_set_;
  Communicator& comm_;
  std::unique_ptr<BatchLoader> loader_;
  Tensor probs_;
  Tensor device_images_, device_labels_;  // the batch on a GPU context's device
};

}  // namespace joule
