// Rank-count equivalence (fp32, global batch 128, 50 steps): training on all ranks of this job gives
// the same per-step losses and final parameters as training in one process, within 1e-5 relative —
// the difference is only the order in which per-rank gradient sums are added.
// Run under mpirun -np 2 and -np 4 (ctest mpi_np2, mpi_np4): together 1 vs 2 vs 4 ranks.
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/dataset.h"
#include "core/proto/records.pb.h"
#include "distributed/trainer.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

namespace fs = std::filesystem;

std::vector<double> train_losses(const std::string& run_dir) {
  std::vector<double> losses;
  std::ifstream in(run_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"kind\":\"train\"") == std::string::npos) continue;
    pb::TrainRecord record;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << line;
    losses.push_back(record.loss());
  }
  return losses;
}

// Rank 0 only (no collectives inside, so ASSERTs may return early): trains the same config in this
// process alone and compares losses and parameters.
void compare_with_single_process(const pb::Config& config, const Dataset& train_set, const Dataset& test_set,
                                 const TrainerIo& io, const std::string& dir, const std::vector<float>& params,
                                 int ranks) {
  LocalCommunicator alone;
  TrainerIo io1 = io;
  io1.run_dir = dir + "/single";
  fs::create_directory(io1.run_dir);
  Trainer single(config, train_set, test_set, alone);
  single.run(io1);
  const std::vector<double> a = train_losses(io.run_dir), b = train_losses(io1.run_dir);
  ASSERT_EQ(a.size(), 50u);
  ASSERT_EQ(b.size(), 50u);
  EXPECT_GT(b.front() - b.back(), 0.3) << "training made progress (a meaningful comparison)";
  EXPECT_GT(b.back(), 0.05) << "losses stay well above zero, where a relative tolerance is meaningful";
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], 1e-5 * std::fabs(b[i])) << "loss of step " << i + 1 << ", " << ranks << " ranks";
  const std::vector<float> reference = single.parameters().values().to_floats();
  ASSERT_EQ(params.size(), reference.size());
  double worst = 0, largest = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(params[i]) - reference[i]));
    largest = std::max(largest, std::fabs(static_cast<double>(reference[i])));
  }
  EXPECT_LE(worst, 1e-5 * largest) << "final parameters, " << ranks << " ranks (max |param| " << largest << ")";
  std::printf("equivalence, %d ranks vs 1: max loss difference %.3g, max parameter difference %.3g (max |param| %.3g)\n",
              ranks, [&] {
                double d = 0;
                for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]) / std::fabs(b[i]));
                return d;
              }(),
              worst, largest);
  fs::remove_all(dir);
}

TEST(TrainerEquivalence, AnyRankCountMatchesOneProcess) {
  Communicator& comm = testing::test_communicator();
  // rank 0 makes the data and a folder; every rank uses the same paths (one host)
  std::string dir;
  if (comm.rank() == 0) {
    dir = testing::make_temp_dir("joule-equivalence");
    testing::write_synthetic_dataset(dir + "/data", 1280, 256, 5);
  }
  dir = comm.all_gather(dir)[0];
  comm.barrier();

  pb::Config config = parse_config_text(
      "run { seed: 9 threads: 1 }\n"
      "data { train_images: '" + dir + "/data/train-images.gz' train_labels: '" + dir + "/data/train-labels.gz'"
      " test_images: '" + dir + "/data/test-images.idx' test_labels: '" + dir + "/data/test-labels.idx' }\n"
      "model { mlp { hidden: 48 hidden: 32 } }\n"
      "train { batch_size: 128 epochs: 5 max_steps: 50 log_every_steps: 1\n"
      "        optimizer { sgd { lr: 0.01 momentum: 0.9 } } }\n",
      "equivalence");
  fill_config_defaults(config);
  validate_config(config, "equivalence");
  const Dataset train_set = load_dataset(config.data().train_images(), config.data().train_labels(), 10, 0);
  const Dataset test_set = load_dataset(config.data().test_images(), config.data().test_labels(), 10, 0);

  TrainerIo io;
  io.progress = nullptr;
  io.run_dir = dir + "/ranks";
  if (comm.rank() == 0) fs::create_directory(io.run_dir);
  comm.barrier();
  Trainer distributed(config, train_set, test_set, comm);
  const pb::Summary summary = distributed.run(io);
  EXPECT_EQ(summary.world_size(), static_cast<uint32_t>(comm.size()));
  EXPECT_EQ(summary.steps(), 50u);
  const std::vector<float> params = distributed.parameters().values().to_floats();

  // every rank holds the same parameters
  const std::vector<std::string> all = comm.all_gather(
      std::string(reinterpret_cast<const char*>(params.data()), params.size() * sizeof(float)));
  for (size_t r = 1; r < all.size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r << " diverged from rank 0";

  if (comm.rank() == 0) compare_with_single_process(config, train_set, test_set, io, dir, params, comm.size());
  comm.barrier();
}

}  // namespace
}  // namespace joule
