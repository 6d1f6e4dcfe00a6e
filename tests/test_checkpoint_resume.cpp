// Checkpoints and --resume end to end (joule-train as a user runs it): a run interrupted by SIGTERM
// (JOULE_FAULT=term:RANK:STEP, as a scheduler's preemption notice) and resumed repeats the
// uninterrupted run bit for bit on CPU in f32 (every step's loss, the final parameters), with one
// rank and under mpirun with two, also across a scheduled batch change; a corrupt or incomplete
// newest checkpoint is skipped for the previous one; a corrupt checkpoint named explicitly and a
// checkpoint of another model are refused with exit status 2 naming the file or the field.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "core/build_info.h"
#include "core/proto/checkpoint.pb.h"
#include "core/proto/records.pb.h"
#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule::testing {
namespace {

namespace fs = std::filesystem;

// step → (loss, batch) of metrics.jsonl's train lines; a later line for a step replaces an earlier
std::map<uint32_t, std::pair<double, uint32_t>> train_losses(const std::string& run_dir) {
  std::map<uint32_t, std::pair<double, uint32_t>> losses;
  std::istringstream lines(read_file(run_dir + "/metrics.jsonl"));
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  for (std::string line; std::getline(lines, line);) {
    pb::TrainRecord record;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record, options).ok()) << line;
    if (record.kind() == "train") losses[record.step()] = {record.loss(), record.batch_size()};
  }
  return losses;
}

pb::Summary summary_of(const std::string& run_dir) {
  pb::Summary summary;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(read_file(run_dir + "/summary.json"), &summary, options).ok());
  return summary;
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("joule-resume");
    files_ = write_synthetic_dataset(dir_ + "/data", 960, 200, 7);
    config_ = write_config("cfg.pbtxt", 16, "");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // 960 samples at batch 32: 30 steps per epoch; 60 steps cross an epoch boundary. Dropout draws
  // per step, momentum carries state: a resume that lost either would show in the losses.
  std::string write_config(const std::string& name, int hidden, const std::string& extra) {
    std::ostringstream text;
    text << "run { seed: 5 threads: 1 cpu_math: \"eigen\" }\n"
         << "data { train_images: \"" << files_.train_images << "\" train_labels: \"" << files_.train_labels
         << "\" test_images: \"" << files_.test_images << "\" test_labels: \"" << files_.test_labels << "\" }\n"
         << "model { mlp { hidden: " << hidden << " hidden: 16 dropout: 0.1 } }\n"
         << "train { batch_size: 32 epochs: 3 max_steps: 60 eval_every_steps: 20 log_every_steps: 1\n"
         << "  optimizer { sgd { lr: 0.05 momentum: 0.9 } } schedule { kind: warmup_cosine warmup_steps: 10 } }\n"
         << extra;
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text.str();
    return path;
  }

  // joule-train (under mpirun with `ranks` > 1) with JOULE_FAULT=fault, in dir_/runs/NAME
  CommandResult train(const std::string& name, const std::string& fault, const std::string& args, int ranks = 1,
                      const std::string& config = "") {
    std::string launcher = "timeout -k 5 120 ";
#ifdef JOULE_MPIEXEC
    if (ranks > 1)
      launcher += shell_quote(JOULE_MPIEXEC) + " --allow-run-as-root --oversubscribe -np " + std::to_string(ranks) +
                  " -x JOULE_FAULT ";
#endif
    return run_command("JOULE_FAULT=" + shell_quote(fault) + " " + launcher + shell_quote(binary_path("joule-train")) +
                       " --config " + shell_quote(config.empty() ? config_ : config) + " --output " +
                       shell_quote(dir_ + "/runs") + " --set run.name=" + name + " " + args + " 2>&1");
  }
  std::string run_dir(const std::string& name) const { return dir_ + "/runs/" + name; }

  // Every step's loss and the final parameters of the two runs are the same bits.
  void expect_identical_runs(const std::string& a, const std::string& b) {
    const auto la = train_losses(run_dir(a)), lb = train_losses(run_dir(b));
    ASSERT_EQ(la.size(), 60u);
    ASSERT_EQ(lb.size(), la.size());
    for (const auto& [step, loss] : la) {
      ASSERT_TRUE(lb.count(step)) << "step " << step;
      EXPECT_EQ(lb.at(step).first, loss.first) << "loss at step " << step;
      EXPECT_EQ(lb.at(step).second, loss.second) << "batch at step " << step;
    }
    const std::string pa = read_file(run_dir(a) + "/checkpoints/step-00000060/parameters.f32");
    const std::string pb = read_file(run_dir(b) + "/checkpoints/step-00000060/parameters.f32");
    ASSERT_FALSE(pa.empty());
    EXPECT_TRUE(pa == pb) << "the final parameters differ";
  }

  std::string dir_, config_;
  SyntheticFiles files_;
};

TEST_F(Resume, SigtermThenResumeRepeatsTheUninterruptedRunBitForBit) {
  const CommandResult straight = train("straight", "", "");
  ASSERT_EQ(straight.status, 0) << straight.output;
  const CommandResult cut = train("cut", "term:0:30", "");
  ASSERT_EQ(cut.status, 3) << cut.output;  // interrupted after a clean checkpoint
  EXPECT_EQ(summary_of(run_dir("cut")).stop_reason(), "interrupted");
  ASSERT_TRUE(fs::exists(run_dir("cut") + "/checkpoints/step-00000031/DONE")) << cut.output;  // the step finished
  const double first_energy = summary_of(run_dir("cut")).energy_j();
  const CommandResult resumed = train("cut", "", "--resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("continuing from checkpoints/step-00000031 at step 31"), std::string::npos)
      << resumed.output;
  expect_identical_runs("straight", "cut");
  const pb::Summary summary = summary_of(run_dir("cut"));
  EXPECT_EQ(summary.steps(), 60u);
  EXPECT_EQ(summary.restarts(), 1u);
  EXPECT_GT(summary.energy_j(), first_energy);  // the accounting went on from the first segment's
  EXPECT_EQ(count_of(read_file(run_dir("cut") + "/rank-00000.jsonl"), "\"kind\":\"restart\""), 1);
  EXPECT_EQ(count_of(read_file(run_dir("cut") + "/metrics.jsonl"), "\"kind\":\"restart\""), 1);
}

TEST_F(Resume, TwoRanksAcrossAScheduledBatchChangeRepeatBitForBit) {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
  GTEST_SKIP() << "built without MPI";
#endif
  config_ = write_config("cfg2.pbtxt", 16, "energy { schedule { at_step: 40 batch_size: 64 } }\n");
  const CommandResult straight = train("straight", "", "", 2);
  ASSERT_EQ(straight.status, 0) << straight.output;
  const CommandResult cut = train("cut", "term:1:30", "", 2);  // the signal reaches rank 1 only
  ASSERT_EQ(cut.status, 3) << cut.output;
  const CommandResult resumed = train("cut", "", "--resume", 2);
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  expect_identical_runs("straight", "cut");
  const auto losses = train_losses(run_dir("cut"));
  EXPECT_EQ(losses.at(40).second, 32u);
  EXPECT_EQ(losses.at(41).second, 64u);  // the change happened after the resume
  for (const char* rank : {"rank-00000.jsonl", "rank-00001.jsonl"})
    EXPECT_EQ(count_of(read_file(run_dir("cut") + "/" + rank), "\"kind\":\"restart\""), 1) << rank;
  EXPECT_EQ(summary_of(run_dir("cut")).energy_j_per_rank_size(), 2);
}

TEST_F(Resume, ACorruptOrIncompleteNewestCheckpointIsSkippedForThePreviousOne) {
  const std::string every = "--set checkpoint.every_steps=10 --set checkpoint.keep=3";
  const CommandResult straight = train("straight", "", every);
  ASSERT_EQ(straight.status, 0) << straight.output;
  const CommandResult cut = train("cut", "term:0:25", every);
  ASSERT_EQ(cut.status, 3) << cut.output;
  const std::string checkpoints = run_dir("cut") + "/checkpoints";
  ASSERT_TRUE(fs::exists(checkpoints + "/step-00000010/DONE"));
  ASSERT_TRUE(fs::exists(checkpoints + "/step-00000020/DONE"));
  ASSERT_TRUE(fs::exists(checkpoints + "/step-00000026/DONE"));
  {  // the newest: one flipped byte in its parameters
    std::fstream f(checkpoints + "/step-00000026/parameters.f32", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  // the one before: an interrupted write (no DONE)
  fs::remove(checkpoints + "/step-00000020/DONE");
  const CommandResult again = train("cut", "", every + " --resume");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("step-00000026 skipped"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("CRC-32"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("step-00000020 skipped"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("using checkpoints/step-00000010 instead"), std::string::npos) << again.output;
  expect_identical_runs("straight", "cut");  // from step 10 on, the same bits again
}

TEST_F(Resume, ATruncatedCheckpointNamedExplicitlyExitsTwoNamingTheFile) {
  ASSERT_EQ(train("cut", "term:0:12", "").status, 3);
  const std::string checkpoint = run_dir("cut") + "/checkpoints/step-00000013";
  fs::resize_file(checkpoint + "/optimizer-momentum.f32", 64);
  const std::string metrics_before = read_file(run_dir("cut") + "/metrics.jsonl");
  const CommandResult named = train("cut", "", "--resume=" + checkpoint);
  EXPECT_EQ(named.status, 2) << named.output;
  EXPECT_NE(named.output.find("optimizer-momentum.f32"), std::string::npos) << named.output;
  EXPECT_NE(named.output.find("truncated"), std::string::npos) << named.output;
  EXPECT_EQ(read_file(run_dir("cut") + "/metrics.jsonl"), metrics_before);  // nothing written
}

TEST_F(Resume, ACheckpointOfAnotherModelExitsTwoNamingTheField) {
  ASSERT_EQ(train("cut", "term:0:12", "").status, 3);
  const std::string other = write_config("other.pbtxt", 24, "");
  const CommandResult resumed = train("cut", "", "--resume", 1, other);
  EXPECT_EQ(resumed.status, 2) << resumed.output;
  EXPECT_NE(resumed.output.find("model.mlp.hidden"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("16 in the checkpoint, 24 now"), std::string::npos) << resumed.output;
}

TEST_F(Resume, ResumingWhatIsNotThereExitsTwo) {
  const CommandResult missing = train("never-ran", "", "--resume");
  EXPECT_EQ(missing.status, 2) << missing.output;
  EXPECT_NE(missing.output.find("does not exist"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(run_dir("never-ran")));
  const CommandResult unnamed =
      run_command(shell_quote(binary_path("joule-train")) + " --config " + shell_quote(config_) + " --resume 2>&1");
  EXPECT_EQ(unnamed.status, 2) << unnamed.output;
  EXPECT_NE(unnamed.output.find("run.name"), std::string::npos) << unnamed.output;
}

TEST_F(Resume, ARunWithoutACompleteCheckpointStartsOverInItsDirectory) {
  ASSERT_EQ(train("cut", "term:0:12", "").status, 3);
  fs::remove_all(run_dir("cut") + "/checkpoints");
  const CommandResult resumed = train("cut", "", "--resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("starting over at step 0"), std::string::npos) << resumed.output;
  EXPECT_EQ(summary_of(run_dir("cut")).steps(), 60u);
  EXPECT_EQ(summary_of(run_dir("cut")).restarts(), 1u);
}

TEST_F(Resume, AFinishedRunStaysFinishedUnlessTheConfigAsksForMore) {
  ASSERT_EQ(train("done", "", "").status, 0);
  const CommandResult again = train("done", "", "--resume");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(summary_of(run_dir("done")).steps(), 60u);
  EXPECT_EQ(summary_of(run_dir("done")).stop_reason(), "max_steps");
  const CommandResult more = train("done", "", "--set train.max_steps=75 --resume");
  ASSERT_EQ(more.status, 0) << more.output;
  EXPECT_NE(more.output.find("the config differs from the checkpoint's: config.train.max_steps (60 in the checkpoint, "
                             "75 now)"),
            std::string::npos)
      << more.output;
  EXPECT_EQ(summary_of(run_dir("done")).steps(), 75u);
  EXPECT_EQ(summary_of(run_dir("done")).restarts(), 2u);
  EXPECT_TRUE(fs::exists(run_dir("done") + "/checkpoints/step-00000075/DONE"));
}

TEST_F(Resume, AnotherRankCountIsAllowedWhileTheBatchDivides) {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
  GTEST_SKIP() << "built without MPI";
#endif
  ASSERT_EQ(train("cut", "term:0:30", "").status, 3);
  const CommandResult resumed = train("cut", "", "--resume", 2);
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("the checkpoint was written by 1 ranks, this job has 2"), std::string::npos)
      << resumed.output;
  const pb::Summary summary = summary_of(run_dir("cut"));
  EXPECT_EQ(summary.steps(), 60u);
  EXPECT_EQ(summary.world_size(), 2u);
  EXPECT_EQ(summary.samples(), 60.0 * 32);  // both segments counted
}

TEST_F(Resume, ABatchThatNoLongerDividesOverTheRanksIsRefused) {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
  GTEST_SKIP() << "built without MPI";
#endif
  ASSERT_EQ(train("cut", "term:0:12", "--set train.batch_size=33").status, 3);
  const CommandResult resumed = train("cut", "", "--set train.batch_size=34 --resume", 2);
  EXPECT_EQ(resumed.status, 2) << resumed.output;
  EXPECT_NE(resumed.output.find("written by 1 ranks at global batch 33"), std::string::npos) << resumed.output;
}

// Every line of every log parses, and every checkpoint folder that has its final name is complete.
void expect_clean_run_directory(const std::string& run_dir) {
  for (const auto& entry : fs::directory_iterator(run_dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".jsonl") continue;
    std::istringstream lines(read_file(entry.path().string()));
    for (std::string line; std::getline(lines, line);) {
      google::protobuf::Struct any;  // any JSON object
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &any).ok()) << name << ": " << line;
    }
  }
  std::error_code none;
  for (const auto& entry : fs::directory_iterator(run_dir + "/checkpoints", none)) {
    const std::string name = entry.path().filename().string();
    if (name[0] == '.') continue;  // a hidden folder being written is never loaded
    EXPECT_TRUE(fs::exists(entry.path() / "DONE")) << name << " has no DONE";
  }
}

TEST_F(Resume, SigtermDuringAnEvaluationResumesWithThatEvaluation) {
  ASSERT_EQ(train("straight", "", "").status, 0);
  const CommandResult cut = train("cut", "term:0:20:eval", "");
  ASSERT_EQ(cut.status, 3) << cut.output;
  expect_clean_run_directory(run_dir("cut"));
  EXPECT_EQ(count_of(read_file(run_dir("cut") + "/metrics.jsonl"), "\"kind\":\"eval\""), 0);  // cut short
  ASSERT_TRUE(fs::exists(run_dir("cut") + "/checkpoints/step-00000020/DONE"));
  const CommandResult resumed = train("cut", "", "--resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  expect_identical_runs("straight", "cut");
  // the evaluation at step 20 ran after the resume: the same evaluations as the straight run
  const std::string straight_metrics = read_file(run_dir("straight") + "/metrics.jsonl");
  const std::string cut_metrics = read_file(run_dir("cut") + "/metrics.jsonl");
  EXPECT_EQ(count_of(cut_metrics, "\"kind\":\"eval\""), count_of(straight_metrics, "\"kind\":\"eval\""));
  EXPECT_EQ(summary_of(run_dir("cut")).final_accuracy(), summary_of(run_dir("straight")).final_accuracy());
}

TEST_F(Resume, SigtermDuringACheckpointWriteCompletesItAndStopsAfterTheStep) {
  const std::string every = "--set checkpoint.every_steps=10";
  const CommandResult cut = train("cut", "term:0:20:checkpoint", every);
  ASSERT_EQ(cut.status, 3) << cut.output;
  expect_clean_run_directory(run_dir("cut"));
  EXPECT_TRUE(fs::exists(run_dir("cut") + "/checkpoints/step-00000020/DONE")) << cut.output;
  EXPECT_TRUE(fs::exists(run_dir("cut") + "/checkpoints/step-00000021/DONE")) << cut.output;
  EXPECT_EQ(summary_of(run_dir("cut")).steps(), 21u);
}

TEST_F(Resume, ASecondSignalExitsAtOnceAndLeavesNoHalfCheckpoint) {
  const std::string every = "--set checkpoint.every_steps=10";
  ASSERT_EQ(train("straight", "", every).status, 0);
  const CommandResult cut = train("cut", "term:0:15:twice", every);
  ASSERT_EQ(cut.status, 3) << cut.output;
  EXPECT_NE(cut.output.find("second interrupt: exiting now"), std::string::npos) << cut.output;
  expect_clean_run_directory(run_dir("cut"));
  EXPECT_FALSE(fs::exists(run_dir("cut") + "/summary.json"));  // no clean stop: it did not wait for one
  const CommandResult resumed = train("cut", "", every + " --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("continuing from checkpoints/step-00000010"), std::string::npos) << resumed.output;
  expect_identical_runs("straight", "cut");
}

// The controller's state survives: its recorded inputs at the checkpoint are the first ones of the
// finished run's (replayed, not measured again), and the budget counts the energy of both segments.
TEST_F(Resume, TheControllerContinuesWithWhatItMeasuredAndTheBudgetCoversBothSegments) {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
  GTEST_SKIP() << "built without MPI";
#endif
  config_ = write_config(
      "ctl.pbtxt", 64,
      "energy { window_s: 0.2 controller { budget_kj: 0.02 batch_size { mode: ADAPT min: 16 max: 128 }\n"
      "  precision { mode: ADAPT } warmup_s: 1 transient_s: 1 measure_s: 0.2 max_explore_fraction: 0.3 } }\n");
  const std::string long_run = "--set train.max_steps=0 --set train.epochs=5000";  // the budget ends it
  const CommandResult cut = train("cut", "term:0:150", long_run, 2);
  ASSERT_EQ(cut.status, 3) << cut.output;
  const std::string first = read_file(run_dir("cut") + "/checkpoints/step-00000151/controller.pb");
  pb::ControlJournal before;
  ASSERT_TRUE(before.ParseFromString(first));
  ASSERT_GT(before.events_size(), 0);
  const double first_energy = summary_of(run_dir("cut")).energy_j();
  // a budget stop writes no closing checkpoint (the cap holds): the resumed segment's periodic ones
  // static watts on the resume only (wall time counts: a loaded machine's waiting ranks burn little
  // CPU, and the budget took 49 s of the 120 s timeout); on the first segment they could spend the
  // budget before step 150
  const CommandResult resumed = train(
      "cut", "", long_run + " --set checkpoint.every_steps=5 --set energy.estimate_static_watts=10 --resume", 2);
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("the energy controller continues from its " + std::to_string(before.events_size()) +
                                " recorded inputs"),
            std::string::npos)
      << resumed.output;
  const pb::Summary summary = summary_of(run_dir("cut"));
  EXPECT_EQ(summary.stop_reason(), "budget");
  EXPECT_GE(summary.energy_j(), 20.0);
  EXPECT_GT(summary.energy_j(), first_energy);
  // the last checkpoint's journal begins with the interrupted run's, event for event
  pb::ControlJournal after;
  ASSERT_TRUE(after.ParseFromString(read_file(run_dir("cut") + "/checkpoints/" +
                                              fs::path(summary.checkpoint()).filename().string() + "/controller.pb")));
  ASSERT_GT(after.events_size(), before.events_size());
  for (int i = 0; i < before.events_size(); ++i)
    EXPECT_EQ(after.events(i).SerializeAsString(), before.events(i).SerializeAsString()) << "event " << i;
}

TEST_F(Resume, TheRestartWrapperRelaunchesAKilledRankToCompletion) {
#if !JOULE_HAVE_MPI || !defined(JOULE_MPIEXEC)
  GTEST_SKIP() << "built without MPI";
#else
  const std::string command =
      "JOULE_FAULT=kill:1:25 timeout -k 5 240 bash " +
      shell_quote(std::string(JOULE_SOURCE_DIR) + "/scripts/launch.sh") + " --max-restarts 2 -- " +
      shell_quote(JOULE_MPIEXEC) + " --allow-run-as-root --oversubscribe -np 2 -x JOULE_FAULT " +
      shell_quote(binary_path("joule-train")) + " --config " + shell_quote(config_) + " --output " +
      shell_quote(dir_ + "/runs") + " --set run.name=k --set checkpoint.every_steps=10 --set energy.window_s=0.05 2>&1";
  const CommandResult launched = run_command(command);
  ASSERT_EQ(launched.status, 0) << launched.output;
  EXPECT_NE(launched.output.find("launch: restart 1/2: the job failed"), std::string::npos) << launched.output;
  EXPECT_NE(launched.output.find("completed after 1 restart(s)"), std::string::npos) << launched.output;
  expect_clean_run_directory(run_dir("k"));
  const pb::Summary summary = summary_of(run_dir("k"));
  EXPECT_EQ(summary.steps(), 60u);
  EXPECT_EQ(summary.restarts(), 1u);
  // the summary's energy covers both segments: at least every window either segment logged
  double logged = 0;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  for (const char* rank : {"rank-00000.jsonl", "rank-00001.jsonl"}) {
    const std::string log = read_file(run_dir("k") + "/" + rank);
    EXPECT_EQ(count_of(log, "\"kind\":\"restart\""), 1) << rank;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("\"kind\":\"restart\"") != std::string::npos) continue;
      pb::RankWindowRecord window;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &window, options).ok()) << line;
      logged += window.energy_j().total();
    }
  }
  EXPECT_GT(logged, 0);
  EXPECT_GE(summary.energy_j(), logged * (1 - 1e-12));
#endif
}

}  // namespace
}  // namespace joule::testing
