// train.eval_every_samples: an evaluation each time the samples trained pass a multiple of N, so
// the cadence is the same in samples whatever the batch does (here energy.schedule changes it
// mid-epoch, 64 → 192 → 32), besides the evaluation at each epoch end; a crossing less than half a
// period after the previous evaluation (an epoch end's) is skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/config.h"
#include "core/dataset.h"
#include "core/proto/records.pb.h"
#include "distributed/trainer.h"
#include "tests/support/json_lines.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

TEST(EvalCadence, EverySamplesFollowsTheSamplesAtAnyBatch) {
  const std::string dir = testing::make_temp_dir("joule-eval-cadence");
  const testing::SyntheticFiles files = testing::write_synthetic_dataset(dir + "/data", 960, 100, 3);
  const double every = 250;
  pb::Config config = parse_config_text(
      "run { seed: 2 threads: 1 cpu_math: 'eigen' }\n"
      "data { train_images: '" +
          files.train_images + "' train_labels: '" + files.train_labels + "' test_images: '" + files.test_images +
          "' test_labels: '" + files.test_labels +
          "' }\n"
          "model { mlp { hidden: 16 } }\n"
          "train { batch_size: 64 epochs: 2 eval_every_samples: 250 }\n"
          "energy { batch { min: 32 max: 192 } schedule { at_step: 3 batch_size: 192 } schedule { at_step: 6 "
          "batch_size: 32 } }\n",
      "cadence");
  fill_config_defaults(config);
  validate_config(config, "cadence");
  const Dataset train_set = load_dataset(files.train_images, files.train_labels, 10, 0);
  const Dataset test_set = load_dataset(files.test_images, files.test_labels, 10, 0);
  LocalCommunicator comm;
  TrainerIo io;
  io.progress = nullptr;
  io.run_dir = dir + "/run";
  std::filesystem::create_directory(io.run_dir);
  Trainer trainer(config, train_set, test_set, comm);
  const pb::Summary summary = trainer.run(io);
  ASSERT_EQ(summary.stop_reason(), "max_epochs");

  // expected: the first step at or past each multiple of 250 samples, and each epoch's last step.
  // The schedule: batch 64 for steps 1-3, 192 for 4-6, then 32; an epoch ends when fewer samples
  // than a batch remain (data_feed.h).
  const auto evals = testing::read_records<pb::EvalRecord>(io.run_dir + "/metrics.jsonl", "eval");
  // A crossing less than 125 samples after the previous evaluation (an epoch end's) is skipped.
  std::set<uint32_t> seen, crossings;
  for (const pb::EvalRecord& e : evals) seen.insert(e.step());
  const int64_t epoch_samples = 960;
  int64_t samples = 0, in_epoch = 0, last_eval_samples = -1;
  uint32_t step = 0;
  int skipped = 0;
  for (int epoch = 0; epoch < 2;) {
    const int64_t batch = step < 3 ? 64 : step < 6 ? 192 : 32;
    if (epoch_samples - in_epoch < batch) {  // the epoch is exhausted: its closing evaluation
      crossings.insert(step);
      last_eval_samples = samples;
      in_epoch = 0;
      ++epoch;
      continue;
    }
    const double before = static_cast<double>(samples);
    ++step;
    samples += batch;
    in_epoch += batch;
    if (std::floor(static_cast<double>(samples) / every) > std::floor(before / every)) {
      if (last_eval_samples >= 0 && 2.0 * static_cast<double>(samples - last_eval_samples) < every) {
        ++skipped;
      } else {
        crossings.insert(step);
        last_eval_samples = samples;
      }
    }
  }
  ASSERT_EQ(summary.steps(), step) << "the schedule this test reconstructs";
  EXPECT_EQ(seen, crossings) << "evaluations at the steps crossing each 250 samples, and at epoch ends";
  EXPECT_GE(crossings.size(), 8u);
  EXPECT_GE(skipped, 1) << "the schedule has a crossing right after an epoch end (1024 samples, 64 after it)";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace joule
