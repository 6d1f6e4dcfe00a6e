// The batch-size knob under data parallelism: a scripted schedule (energy.schedule) changes the
// global batch 128 -> 512 -> 256 in the middle of an epoch. Every training sample is seen exactly
// once per epoch (counted over all ranks), the per-step losses match one process taking the same
// schedule within 1e-5 relative (fp32: only the summation order differs), and the accounting
// windows close at the same steps on every rank (energy.window_s tiny: a window is due on some
// rank after nearly every step, and the agreement makes it due everywhere).
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/config.h"
#include "core/dataset.h"
#include "core/proto/records.pb.h"
#include "distributed/trainer.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/support/json_lines.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

namespace fs = std::filesystem;

using testing::read_records;

constexpr int kTrain = 2560;  // 4 steps × 128 + 2 × 512 + 4 × 256: the schedule tiles epoch 0 exactly

pb::Config schedule_config(const std::string& dir) {
  pb::Config config = parse_config_text(
      "run { seed: 5 threads: 1 cpu_math: 'eigen' }\n"
      "data { train_images: '" + dir + "/data/train-images.gz' train_labels: '" + dir + "/data/train-labels.gz'"
      " test_images: '" + dir + "/data/test-images.idx' test_labels: '" + dir + "/data/test-labels.idx' }\n"
      "model { mlp { hidden: 32 } }\n"
      "train { batch_size: 128 epochs: 2 log_every_steps: 1 optimizer { sgd { lr: 0.05 momentum: 0.9 } } }\n"
      "energy { window_s: 1e-9\n"
      "  schedule { at_step: 4 batch_size: 512 }\n"
      "  schedule { at_step: 6 batch_size: 256 } }\n",
      "knob schedule");
  fill_config_defaults(config);
  validate_config(config, "knob schedule");
  return config;
}

TEST(KnobSchedule, BatchChangesMidEpochSeeEverySampleOnceAndMatchOneProcess) {
  Communicator& comm = testing::test_communicator();
  std::string dir;
  if (comm.rank() == 0) {
    dir = testing::make_temp_dir("joule-knobs");
    testing::write_synthetic_dataset(dir + "/data", kTrain, 200, 7);
  }
  dir = comm.all_gather(dir)[0];
  comm.barrier();
  const pb::Config config = schedule_config(dir);
  const Dataset train_set = load_dataset(config.data().train_images(), config.data().train_labels(), 10, 0);
  const Dataset test_set = load_dataset(config.data().test_images(), config.data().test_labels(), 10, 0);

  TrainerIo io;
  io.progress = nullptr;
  io.run_dir = dir + "/ranks";
  std::vector<int64_t> seen;  // this rank's sample ids, step after step
  std::vector<int64_t> steps_of_seen;
  io.on_batch = [&](int64_t step, const std::vector<int64_t>& ids) {
    seen.insert(seen.end(), ids.begin(), ids.end());
    steps_of_seen.insert(steps_of_seen.end(), ids.size(), step);
  };
  if (comm.rank() == 0) fs::create_directory(io.run_dir);
  comm.barrier();
  Trainer trainer(config, train_set, test_set, comm);
  const pb::Summary summary = trainer.run(io);
  EXPECT_EQ(summary.steps(), 20u) << "epoch 0: 4 + 2 + 4 steps; epoch 1: 10 steps at 256";
  EXPECT_EQ(summary.samples(), 2.0 * kTrain);
  EXPECT_EQ(trainer.knobs().global_batch(), 256u);
  EXPECT_EQ(summary.batch_size(), 256u);
  EXPECT_EQ(summary.knob_changes(), 2u);
  EXPECT_EQ(summary.precision(), "f32");

  // every sample exactly once per epoch, over all ranks (epoch 0 = steps 1..10)
  const std::string mine(reinterpret_cast<const char*>(seen.data()), seen.size() * sizeof(int64_t));
  const std::string mine_steps(reinterpret_cast<const char*>(steps_of_seen.data()), steps_of_seen.size() * sizeof(int64_t));
  const std::vector<std::string> all = comm.all_gather(mine), all_steps = comm.all_gather(mine_steps);
  std::vector<int> count[2] = {std::vector<int>(kTrain, 0), std::vector<int>(kTrain, 0)};
  int64_t total = 0;
  for (size_t r = 0; r < all.size(); ++r) {
    const auto* ids = reinterpret_cast<const int64_t*>(all[r].data());
    const auto* steps = reinterpret_cast<const int64_t*>(all_steps[r].data());
    for (size_t i = 0; i < all[r].size() / sizeof(int64_t); ++i, ++total) {
      ASSERT_TRUE(ids[i] >= 0 && ids[i] < kTrain) << ids[i];
      ++count[steps[i] <= 10 ? 0 : 1][static_cast<size_t>(ids[i])];
    }
  }
  EXPECT_EQ(total, 2 * kTrain);
  for (int epoch = 0; epoch < 2; ++epoch)
    for (int id = 0; id < kTrain; ++id)
      EXPECT_EQ(count[epoch][static_cast<size_t>(id)], 1) << "sample " << id << " in epoch " << epoch;

  // windows: the same step ranges on every rank, and the knob changes recorded
  std::vector<std::string> ranges;
  for (int r = 0; r < comm.size(); ++r) {
    char name[32];
    std::snprintf(name, sizeof name, "/rank-%05d.jsonl", r);
    std::string text;
    for (const pb::RankWindowRecord& w : read_records<pb::RankWindowRecord>(io.run_dir + name, nullptr))
      text += std::to_string(w.step_first()) + "-" + std::to_string(w.step_last()) + ":" +
              std::to_string(w.batch_size()) + (w.decision().empty() ? "" : "!") + " ";
    ranges.push_back(text);
  }
  for (int r = 1; r < comm.size(); ++r) EXPECT_EQ(ranges[r], ranges[0]) << "rank " << r << " vs rank 0";
  EXPECT_NE(ranges[0].find("-4:128! "), std::string::npos) << ranges[0];
  EXPECT_NE(ranges[0].find("-6:512! "), std::string::npos) << ranges[0];
  comm.barrier();  // every rank has read the logs before rank 0 goes on to remove them

  if (comm.rank() == 0) {
    const auto lines = read_records<pb::TrainRecord>(io.run_dir + "/metrics.jsonl", "train");
    ASSERT_EQ(lines.size(), 20u);
    EXPECT_EQ(lines[3].batch_size(), 128u);
    EXPECT_EQ(lines[4].batch_size(), 512u);
    EXPECT_EQ(lines[6].batch_size(), 256u);
    EXPECT_EQ(lines[9].samples(), kTrain);
    // one process, same schedule
    LocalCommunicator alone;
    TrainerIo io1;
    io1.progress = nullptr;
    io1.run_dir = dir + "/single";
    fs::create_directory(io1.run_dir);
    Trainer single(config, train_set, test_set, alone);
    single.run(io1);
    const auto reference = read_records<pb::TrainRecord>(io1.run_dir + "/metrics.jsonl", "train");
    ASSERT_EQ(reference.size(), lines.size());
    EXPECT_GT(reference.front().loss() - reference.back().loss(), 0.2) << "training made progress";
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i].batch_size(), reference[i].batch_size());
      EXPECT_NEAR(lines[i].loss(), reference[i].loss(), 1e-5 * std::fabs(reference[i].loss())) << "step " << i + 1;
    }
    fs::remove_all(dir);
  }
  comm.barrier();
}

}  // namespace
}  // namespace joule
