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

struct CadenceRun {
  pb::Summary summary;
  std::set<uint32_t> eval_steps;
};

// Trains the MLP on 960 synthetic samples with `train` (the TrainConfig text) and `energy`; returns
// the summary and the steps of metrics.jsonl's eval lines.
CadenceRun run_cadence(const std::string& train, const std::string& energy) {
  const std::string dir = testing::make_temp_dir("joule-eval-cadence");
  const testing::SyntheticFiles files = testing::write_synthetic_dataset(dir + "/data", 960, 100, 3);
  pb::Config config = parse_config_text(
      "run { seed: 2 threads: 1 cpu_math: 'eigen' }\n"
      "data { train_images: '" +
          files.train_images + "' train_labels: '" + files.train_labels + "' test_images: '" + files.test_images +
          "' test_labels: '" + files.test_labels +
          "' }\n"
          "model { mlp { hidden: 16 } }\n"
          "train { " +
          train + " }\n" + energy,
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
  CadenceRun out;
  out.summary = trainer.run(io);
  for (const pb::EvalRecord& e : testing::read_records<pb::EvalRecord>(io.run_dir + "/metrics.jsonl", "eval"))
    out.eval_steps.insert(e.step());
  std::filesystem::remove_all(dir);
  return out;
}

TEST(EvalCadence, EverySamplesFollowsTheSamplesAtAnyBatch) {
  const double every = 250;
  const CadenceRun run = run_cadence("batch_size: 64 epochs: 2 eval_every_samples: 250",
                                     "energy { batch { min: 32 max: 192 } schedule { at_step: 3 batch_size: 192 } "
                                     "schedule { at_step: 6 batch_size: 32 } }\n");
  const pb::Summary& summary = run.summary;
  ASSERT_EQ(summary.stop_reason(), "max_epochs");

  // expected: the first step at or past each multiple of 250 samples, and each epoch's last step.
  // The schedule: batch 64 for steps 1-3, 192 for 4-6, then 32; an epoch ends when fewer samples
  // than a batch remain (data_feed.h).
  // A crossing less than 125 samples after the previous evaluation (an epoch end's) is skipped.
  const std::set<uint32_t>& seen = run.eval_steps;
  std::set<uint32_t> crossings;
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
}

// eval_every_steps 8 at batch 64: an epoch is 15 steps, so the first epoch ends at step 15, one
// step before the multiple 16, which is skipped (less than 4 steps after it).
TEST(EvalCadence, EveryStepsSkipsAMultipleRightAfterAnEpochEnd) {
  const CadenceRun run = run_cadence("batch_size: 64 epochs: 2 eval_every_steps: 8", "");
  ASSERT_EQ(run.summary.stop_reason(), "max_epochs");
  ASSERT_EQ(run.summary.steps(), 30u);
  EXPECT_EQ(run.eval_steps, (std::set<uint32_t>{8, 15, 24, 30}));
}

}  // namespace
}  // namespace joule
