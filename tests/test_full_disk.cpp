// A full disk, made real: a small tmpfs mounted for the test (root only; skipped elsewhere).
// Full at the start: the run is refused with status 1 and leaves nothing, so its name stays free.
// Full during the run: status 1, and every line of every log is whole (a torn write is cut back).
#include <gtest/gtest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule::testing {
namespace {

namespace fs = std::filesystem;

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    dir_ = make_temp_dir("joule-full-disk");
    files_ = write_synthetic_dataset(dir_ + "/data", 600, 200, 5);
    disk_ = dir_ + "/disk";
    fs::create_directories(disk_);
    if (run_command("mount -t tmpfs -o size=256k tmpfs " + shell_quote(disk_)).status != 0) {
      disk_.clear();
      GTEST_SKIP() << "cannot mount a tmpfs here";
    }
    std::ostringstream text;
    text << "run { name: \"r\" seed: 3 threads: 1 }\n"
         << "data { train_images: \"" << files_.train_images << "\" train_labels: \"" << files_.train_labels
         << "\" test_images: \"" << files_.test_images << "\" test_labels: \"" << files_.test_labels << "\" }\n"
         << "model { mlp { hidden: 16 } }\n"
         << "train { batch_size: 30 epochs: 200 log_every_steps: 1 eval_every_steps: 5 }\n"
         << "energy { window_s: 1e-9 }\n";  // a window every step: rank-00000.jsonl has lines however fast the CPU
    config_ = dir_ + "/cfg.pbtxt";
    std::ofstream(config_) << text.str();
  }
  void TearDown() override {
    if (!disk_.empty()) run_command("umount " + shell_quote(disk_));
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  // Fills the tmpfs, then frees `keep` bytes again.
  void fill_leaving(size_t keep) {
    run_command("dd if=/dev/zero of=" + shell_quote(disk_ + "/filler") + " bs=4k 2>/dev/null; sync");
    if (keep > 0) {
      const uintmax_t size = fs::file_size(disk_ + "/filler");
      fs::resize_file(disk_ + "/filler", size > keep ? size - keep : 0);
    }
  }

  CommandResult train(const std::string& args = "") {
    return run_command("timeout -k 5 120 " + shell_quote(binary_path("joule-train")) + " --config " +
                       shell_quote(config_) + " --output " + shell_quote(disk_ + "/runs") + " " + args);
  }

  std::string dir_, disk_, config_;
  SyntheticFiles files_;
};

TEST_F(FullDisk, FullAtTheStartIsRefusedWithStatus1AndLeavesNothing) {
  fs::create_directories(disk_ + "/runs");
  fill_leaving(0);
  const CommandResult r = train();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("config.pbtxt"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_empty(disk_ + "/runs")) << "a refused run leaves nothing: " << r.output;
  // with room again, the same name is free
  fs::remove(disk_ + "/filler");
  const CommandResult again = train("--set train.epochs=1 --set energy.window_s=1");
  EXPECT_EQ(again.status, 0) << again.output;
}

TEST_F(FullDisk, FullDuringTheRunEndsWithStatus1AndOnlyWholeLines) {
  fill_leaving(48 << 10);  // room for the start and some lines, not for 200 epochs of them
  const CommandResult r = train();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  int files = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(disk_ + "/runs/r")) {
    if (e.path().extension() != ".jsonl") continue;
    ++files;
    const std::string content = read_file(e.path().string());
    ASSERT_FALSE(content.empty()) << e.path();
    EXPECT_EQ(content.back(), '\n') << e.path() << ": the last line is torn";
    std::istringstream lines(content);
    for (std::string line; std::getline(lines, line);) {
      google::protobuf::Struct parsed;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << e.path() << ": " << line;
    }
  }
  EXPECT_GE(files, 2) << "metrics.jsonl and rank-00000.jsonl";
}

// A checkpoint that does not fit: a warning, the training goes on, nothing half-written stays, and
// the summary says why there is no checkpoint (exit 0: an interrupt would have exited 1).
TEST_F(FullDisk, ACheckpointThatDoesNotFitIsAWarningAndLeavesNothing) {
  fill_leaving(160 << 10);  // room for the logs; a checkpoint of this model needs about 0.5 MB
  std::string text = read_file(config_);
  text.replace(text.find("hidden: 16"), 10, "hidden: 2000");
  std::ofstream(config_) << text;
  const CommandResult big = train("--set train.epochs=1 --set energy.window_s=1 --set checkpoint.every_steps=5");
  EXPECT_EQ(big.status, 0) << big.output;
  EXPECT_NE(big.output.find("warning: step 5: checkpoint checkpoints/step-00000005 failed, training goes on"),
            std::string::npos)
      << big.output;
  const std::string summary = read_file(disk_ + "/runs/r/summary.json");
  EXPECT_NE(summary.find("No space left on device"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\"checkpoint\": \"\""), std::string::npos) << summary;
  std::error_code none;
  for (const auto& entry : fs::directory_iterator(disk_ + "/runs/r/checkpoints", none))
    ADD_FAILURE() << "left behind: " << entry.path();
}

}  // namespace
}  // namespace joule::testing
