// The precision knob in joule-train: a scheduled switch f32 -> bf16 -> f32 shows in the train lines
// and the rank logs; a non-finite step in bf16 (JOULE_FAULT=nonfinite) skips its update, falls back
// to f32 with the reason logged, and the run completes; the same in f32 ends the run as diverged.
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>

#include "core/gemm.h"
#include "core/proto/records.pb.h"
#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

namespace fs = std::filesystem;
using testing::shell_quote;

class PrecisionKnob : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir("joule-precision");
    const testing::SyntheticFiles f = testing::write_synthetic_dataset(dir_ + "/data", 640, 100, 6);
    std::ofstream(dir_ + "/cfg.pbtxt") << "run { threads: 1 cpu_math: 'eigen' }\n"
                                       << "data { train_images: '" << f.train_images << "' train_labels: '"
                                       << f.train_labels << "' test_images: '" << f.test_images << "' test_labels: '"
                                       << f.test_labels << "' }\n"
                                       << "model { mlp { hidden: 64 } }\n"
                                       << "train { batch_size: 64 epochs: 2 log_every_steps: 1 }\n"
                                       << "energy { window_s: 1e-9 }\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  testing::CommandResult train(const std::string& sets, const std::string& env = "") const {
    return testing::run_command(env + " " + shell_quote(testing::binary_path("joule-train")) + " --config " +
                                shell_quote(dir_ + "/cfg.pbtxt") + " --output " + shell_quote(dir_ + "/out") +
                                " --set run.name=r " + sets + " 2>&1");
  }
  std::vector<pb::TrainRecord> train_lines() const {
    std::vector<pb::TrainRecord> lines;
    std::ifstream in(dir_ + "/out/r/metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"kind\":\"train\"") == std::string::npos) continue;
      pb::TrainRecord r;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &r).ok());
      lines.push_back(r);
    }
    return lines;
  }
  std::string dir_;
};

TEST_F(PrecisionKnob, NonFiniteStepInBf16FallsBackToF32AndTheRunCompletes) {
  if (!bf16_unavailable_reason().empty()) GTEST_SKIP() << "bf16 unavailable: " << bf16_unavailable_reason();
  const testing::CommandResult r = train("--set train.precision=bf16", "JOULE_FAULT=nonfinite:0:5");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<pb::TrainRecord> lines = train_lines();
  ASSERT_EQ(lines.size(), 20u) << "every step is a line, the skipped one too";
  EXPECT_EQ(lines[4].precision(), "bf16") << "steps 1..5 in bf16";
  EXPECT_EQ(lines[5].precision(), "f32") << "the skipped step 6 and after: f32";
  EXPECT_EQ(lines.back().precision(), "f32");
  EXPECT_NE(r.output.find("non-finite loss or gradient in bf16 at step 6, update skipped (1 in a row, "
                          "train.max_bad_steps = 3): precision bf16 -> f32"),
            std::string::npos)
      << r.output;
  const std::string log = testing::read_file(dir_ + "/out/r/rank-00000.jsonl");
  EXPECT_NE(log.find("update skipped"), std::string::npos) << "the decision is in the rank log";
  EXPECT_NE(r.output.find("epochs: 20 steps"), std::string::npos) << r.output;
  const std::string summary = testing::read_file(dir_ + "/out/r/summary.json");
  EXPECT_NE(summary.find("\"precision\": \"f32\""), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"knob_changes\": 1"), std::string::npos) << summary;
}

TEST_F(PrecisionKnob, NonFiniteStepsInF32AreSkippedUntilMaxBadStepsInARow) {
  // two in a row (below the default 3): skipped and counted, the run goes on
  const testing::CommandResult skipped = train("", "JOULE_FAULT=nonfinite:0:3:2");
  EXPECT_EQ(skipped.status, 0) << skipped.output;
  EXPECT_NE(skipped.output.find("step 5: non-finite loss or gradient in f32 at step 5, update skipped (2 in a row"),
            std::string::npos)
      << skipped.output;
  const std::string summary = testing::read_file(dir_ + "/out/r/summary.json");
  EXPECT_NE(summary.find("\"skipped_steps\": 2"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"stop_reason\": \"max_epochs\""), std::string::npos) << summary;
  EXPECT_EQ(train_lines().size(), 20u);  // every step logged, the skipped ones too
  // three in a row: diverged
  std::filesystem::remove_all(dir_ + "/out/r");
  const testing::CommandResult diverged = train("", "JOULE_FAULT=nonfinite:0:3:3");
  EXPECT_EQ(diverged.status, 1) << diverged.output;
  EXPECT_NE(diverged.output.find("training diverged: the loss or a gradient is not finite at step 6, 3 step(s) in a row"),
            std::string::npos)
      << diverged.output;
  EXPECT_NE(testing::read_file(dir_ + "/out/r/summary.json").find("\"stop_reason\": \"diverged\""), std::string::npos);
}

TEST_F(PrecisionKnob, ScheduledSwitchesShowInTrainLinesAndWindows) {
  if (!bf16_unavailable_reason().empty()) GTEST_SKIP() << "bf16 unavailable: " << bf16_unavailable_reason();
  std::string config = testing::read_file(dir_ + "/cfg.pbtxt");
  config.replace(config.find("energy {"), 8,
                 "energy { schedule { at_step: 3 precision: 'bf16' } schedule { at_step: 7 precision: 'f32' }");
  std::ofstream(dir_ + "/cfg.pbtxt") << config;
  const testing::CommandResult r = train("");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<pb::TrainRecord> lines = train_lines();
  ASSERT_EQ(lines.size(), 20u);
  for (size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(lines[i].precision(), i >= 3 && i < 7 ? "bf16" : "f32") << "step " << i + 1;
  std::ifstream log(dir_ + "/out/r/rank-00000.jsonl");
  int bf16_windows = 0;
  for (std::string line; std::getline(log, line);) {
    pb::RankWindowRecord w;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &w).ok());
    if (w.precision() == "bf16") {
      ++bf16_windows;
      EXPECT_GE(w.step_first(), 4u);
      EXPECT_LE(w.step_last(), 7u);
    }
  }
  EXPECT_GE(bf16_windows, 1);
}

}  // namespace
}  // namespace joule
