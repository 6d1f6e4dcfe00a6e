// joule-train as a user runs it: bad input exits 2 naming the cause and writes nothing; good runs
// write the run directory (DESIGN.md §1) and repeat exactly for the same seed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/build_info.h"
#include "core/gemm.h"
#include "core/gemm_backends.h"
#include "core/proto/records.pb.h"
#include "tests/support/command.h"
#include "tests/support/synthetic_data.h"

namespace joule::testing {
namespace {

// A cap on the child's address space, so reading a device as a file would fail fast instead of
// filling memory. Not under AddressSanitizer, whose shadow memory reserves far more address space
// than any cap (there the rejection is still checked, its memory bound is not).
std::string memory_cap() {
#if defined(__SANITIZE_ADDRESS__)
  return "";
#else
  return "ulimit -v 4000000; ";
#endif
}

namespace fs = std::filesystem;

struct Sections {
  std::string model = "mlp { hidden: 32 }";
  std::string train = "batch_size: 30 epochs: 3 log_every_steps: 1";
  std::string energy = "";  // the energy section's body; "" = none
};

class JouleTrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("joule-cli");
    files_ = write_synthetic_dataset(dir_ + "/data", 600, 200, 11);
    output_ = dir_ + "/runs";
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // A small, fast config on the synthetic data; each Sections member replaces or extends one section.
  std::string write_config(const Sections& s = {}) {
    std::ostringstream text;
    text << "run { name: \"r\" seed: 3 threads: 2 }\n"
         << "data { train_images: \"" << files_.train_images << "\" train_labels: \"" << files_.train_labels
         << "\" test_images: \"" << files_.test_images << "\" test_labels: \"" << files_.test_labels << "\" }\n"
         << "model { " << s.model << " }\n"
         << "train { " << s.train << " }\n";
    if (!s.energy.empty()) text << "energy { " << s.energy << " }\n";
    const std::string path = dir_ + "/cfg.pbtxt";
    std::ofstream(path) << text.str();
    return path;
  }

  CommandResult train(const std::string& config, const std::string& args = "") {
    return run_command(binary_path("joule-train") + " --config " + shell_quote(config) + " --output " +
                       shell_quote(output_) + " " + args);
  }

  // Invalid input: exit 2, the message names every needle, and no run directory appears.
  void expect_rejected(const CommandResult& r, const std::vector<std::string>& needles) {
    EXPECT_EQ(r.status, 2) << r.output;
    for (const std::string& needle : needles) EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(output_ + "/r")) << "a run directory was created for invalid input";
  }

  std::vector<double> losses(const std::string& run) {
    std::vector<double> out;
    std::ifstream in(output_ + "/" + run + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"kind\":\"train\"") == std::string::npos) continue;
      pb::TrainRecord record;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << line;
      out.push_back(record.loss());
    }
    return out;
  }

  std::string dir_, output_;
  SyntheticFiles files_;
};

TEST_F(JouleTrainCli, VersionListsFeatures) {
  CommandResult r = run_command(binary_path("joule-train") + " --version");
  EXPECT_EQ(r.status, 0);
  for (const char* feature : {"cpu yes", "cuda ", "nccl ", "mpi ", "nvml ", "onednn ", "cpu math eigen    eigen"})
    EXPECT_NE(r.output.find(feature), std::string::npos) << r.output;
}

TEST_F(JouleTrainCli, BadArgumentsExit2) {
  expect_rejected(run_command(binary_path("joule-train")), {"--config FILE is required"});
  expect_rejected(train(write_config(), "--output ''"), {"--output", "empty string"});
  // a device or a FIFO without a writer as the config: refused at once, in bounded memory
  expect_rejected(run_command(memory_cap() + binary_path("joule-train") + " --config /dev/zero"),
                  {"config file \"/dev/zero\"", "character device"});
  const std::string fifo = dir_ + "/fifo.pbtxt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_rejected(run_command("timeout 60 " + binary_path("joule-train") + " --config " + fifo),
                  {"config file \"" + fifo + "\"", "no data for 10 s"});
  expect_rejected(train(write_config(), "--frobnicate"), {"unknown argument '--frobnicate'"});
  expect_rejected(train(dir_ + "/missing.pbtxt"), {"missing.pbtxt", "cannot open"});
}

// CLI11 (examples/cli.h): a missing value names its flag; --help lists every flag and exits 0.
TEST_F(JouleTrainCli, FlagsAreNamedAndHelpListsThem) {
  expect_rejected(run_command(binary_path("joule-train") + " --config"), {"--config", "missing"});
  expect_rejected(train(write_config(), "--set"), {"--set", "missing"});
  expect_rejected(train(write_config(), "--set train.epochs=2 stray"), {"unknown argument 'stray'"});
  CommandResult r = train(write_config(), "--check --set=train.epochs=7 --set train.batch_size=20");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("epochs: 7"), std::string::npos) << "--set=VALUE form: " << r.output;
  EXPECT_NE(r.output.find("batch_size: 20"), std::string::npos) << r.output;
  r = run_command(binary_path("joule-train") + " --help");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* flag : {"--config FILE", "--set", "--output DIR", "--check", "--resume", "--reset-clocks",
                           "--version", "--help"})
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag << " missing from: " << r.output;
}

TEST_F(JouleTrainCli, BadConfigValuesExit2) {
  expect_rejected(train(write_config({.train = "bath_size: 3 epochs: 3"})), {"bath_size", "cfg.pbtxt:4:"});
  expect_rejected(train(write_config({.train = "batch_size: \"x\""})), {"batch_size"});
  expect_rejected(train(write_config({.train = "batch_size: 0 epochs: 3"})), {"train.batch_size", ">= 1"});
  expect_rejected(train(write_config({.train = "batch_size: 30 epochs: 0"})), {"train.epochs"});
  expect_rejected(train(write_config(), "--set train.optimizer.sgd.lr=0"), {"train.optimizer.sgd.lr", "> 0"});
  expect_rejected(train(write_config(), "--set model.mlp.dropout=1.5"), {"model.mlp.dropout"});
  expect_rejected(train(write_config({.model = "mlp { hidden: 0 }"})), {"model.mlp.hidden[0]"});
  expect_rejected(train(write_config(), "--set train.nope=1"), {"has no field 'nope'"});
  expect_rejected(train(write_config(), "--set train.batch_size=601"), {"train.batch_size", "600 training samples"});
  expect_rejected(train(write_config(), "--set run.cpu_math=mkl"), {"run.cpu_math", "auto, onednn, openblas or eigen"});
  // energy.controller: named fields, nothing written
  expect_rejected(train(write_config(), "--set energy.controller.eta=2"), {"energy.controller.eta", "0 .. 1"});
  expect_rejected(train(write_config(), "--set energy.controller.max_slowdown=0.5"), {"energy.controller.max_slowdown"});
  expect_rejected(train(write_config(), "--set energy.controller.min_gain_per_kj=-1"),
                  {"energy.controller.min_gain_per_kj"});
  expect_rejected(train(write_config(), "--set energy.controller.batch_size.min=64 --set energy.controller.batch_size.max=32"),
                  {"energy.controller.batch_size.min = 64"});
  expect_rejected(train(write_config({.energy = "controller { precision { mode: ADAPT allowed: \"fp4\" } }"})),
                  {"energy.controller.precision.allowed[0]", "fp4"});
}

// A backend that cannot run here is refused by name, before anything is written; auto skips it and
// says why. OpenBLAS told to use its SSE3 Prescott kernels is the case Debian's 0.3.21 creates by
// itself on CPUs newer than its table.
TEST_F(JouleTrainCli, UnavailableCpuMathIsRefusedAndAutoSkipsIt) {
  if (!JOULE_HAVE_ONEDNN) {
    expect_rejected(train(write_config(), "--set run.cpu_math=onednn"), {"run.cpu_math", "built without oneDNN"});
  }
  if (!JOULE_HAVE_BLAS || detail::cpu_isa_rank() == 0) GTEST_SKIP() << "needs OpenBLAS and a CPU newer than SSE";
  const std::string prescott = "OPENBLAS_CORETYPE=Prescott ";
  const std::string base = prescott + binary_path("joule-train") + " --config " + shell_quote(write_config()) +
                           " --output " + shell_quote(output_);
  expect_rejected(run_command(base + " --set run.cpu_math=openblas"), {"run.cpu_math", "Prescott", "older than"});
  expect_rejected(run_command(base + " --check --set run.cpu_math=openblas"), {"run.cpu_math", "Prescott"});
  CommandResult r = run_command(base);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("openblas not tried: OpenBLAS detected core Prescott"), std::string::npos) << r.output;
  pb::Summary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(output_ + "/r/summary.json"), &summary).ok());
  EXPECT_NE(summary.cpu_math(), "openblas");
  // one backend ("fastest on the model's N GEMM shapes") or a mix ("fastest per shape of the
  // model's ..."): which one the timing finds varies with the machine and its load
  const std::string& reason = summary.cpu_math_reason();
  EXPECT_TRUE(reason.rfind("fastest on the model's ", 0) == 0 || reason.rfind("fastest per shape of the model's ", 0) == 0)
      << reason;
  EXPECT_NE(reason.find("openblas not tried"), std::string::npos) << reason;
}

// Every backend trains the same model to the same place; the summary names the one used.
TEST_F(JouleTrainCli, EveryCpuMathBackendTrainsAlike) {
  std::vector<double> reference;
  for (CpuMath kind : all_cpu_math()) {
    if (!cpu_math_unavailable(kind).empty()) continue;
    const std::string name = cpu_math_name(kind);
    ASSERT_EQ(train(write_config(), "--set run.name=" + name + " --set run.cpu_math=" + name).status, 0) << name;
    pb::Summary summary;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(read_file(output_ + "/" + name + "/summary.json"), &summary).ok());
    EXPECT_EQ(summary.cpu_math(), name);
    EXPECT_EQ(summary.cpu_math_reason(), "run.cpu_math = " + name);
    EXPECT_NE(summary.cpu_math_kernel().find(name), std::string::npos) << summary.cpu_math_kernel();
    const std::vector<double> l = losses(name);
    ASSERT_EQ(l.size(), 60u);
    if (reference.empty()) reference = l;
    // f32 sums in another order: tiny differences that 60 SGD steps do not blow up
    for (size_t i = 0; i < l.size(); ++i) EXPECT_NEAR(l[i], reference[i], 1e-3 * reference[i]) << name << " step " << i;
  }
}

TEST_F(JouleTrainCli, DeviceAsDataFileExits2NamingTheField) {
  for (const char* device : {"/dev/zero", "/dev/urandom"}) {
    expect_rejected(run_command(memory_cap() + binary_path("joule-train") + " --config " +
                                shell_quote(write_config()) + " --output " + shell_quote(output_) +
                                " --set data.train_images=" + device),
                    {"data.train_images", device, "character device"});
  }
}

// A config read through a pipe (`--config <(...)`): works, and the default run name made from its
// stem keeps to run.name's characters.
TEST_F(JouleTrainCli, ConfigFromAPipeGetsAValidDefaultName) {
  const std::string text = read_file(write_config());
  const std::string without_name = text.substr(text.find('\n') + 1);
  CommandResult r = run_command("bash -c " + shell_quote(binary_path("joule-train") + " --check --config <(printf %s " +
                                                         shell_quote(without_name) + ")"));
  ASSERT_EQ(r.status, 0) << r.output;
  const size_t at = r.output.find("name: \"");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string name = r.output.substr(at + 7, r.output.find('"', at + 7) - at - 7);
  EXPECT_EQ(name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"),
            std::string::npos) << name;
  // a stem with characters a run.name may not hold
  const std::string odd = dir_ + "/my cfg;$(x).pbtxt";
  std::ofstream(odd) << without_name;
  r = run_command(binary_path("joule-train") + " --check --config " + shell_quote(odd));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("name: \"my_cfg___x_-"), std::string::npos) << r.output;
}

// What the run would refuse after building everything is refused before the run directory exists
// (exit 2, the field or file named), and --check refuses it too.
TEST_F(JouleTrainCli, InputsTheRunCannotUseAreRefusedBeforeTheDirectory) {
  // test images of another geometry than the training images
  const std::string wide = dir_ + "/wide-images.idx";
  write_idx_u8(wide, {200, 8, 9}, std::vector<uint8_t>(200 * 8 * 9, 1), false);
  for (const std::string mode : {"", "--check"}) {
    SCOPED_TRACE(mode.empty() ? "run" : "--check");
    expect_rejected(train(write_config(), mode + " --set data.test_images=" + wide),
                    {"data.test_images", "wide-images.idx", "8x9", "8x8"});
    expect_rejected(train(write_config(), mode + " --set train.batch_size=601"),
                    {"train.batch_size", "600 training samples"});
    expect_rejected(train(write_config(), mode + " --set distributed.bucket_mb=1e308"), {"distributed.bucket_mb"});
    expect_rejected(train(write_config(), mode + " --set energy.estimate_static_watts=1.7e308"),
                    {"energy.estimate_static_watts"});
  }
  // a model far larger than memory (~150 GB of conv weights)
  expect_rejected(train(write_config({.model = "cnn { channels: 65536 channels: 65536 hidden: 16 }"})),
                  {"model", "more memory"});
}

// A huge evaluation batch is bounded by the data: it trains, not allocates 2^31 rows.
TEST_F(JouleTrainCli, EvalBatchLargerThanTheTestSetIsBoundedByIt) {
  CommandResult r = train(write_config(), "--set train.eval_batch_size=2147483647");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(output_ + "/r/summary.json"));
}

TEST_F(JouleTrainCli, BadDataFilesExit2) {
  expect_rejected(train(write_config(), "--set data.test_labels=" + dir_ + "/nope.idx"),
                  {"data.test_labels", "nope.idx"});
  // a truncated image file: the header promises more bytes than follow
  const std::string truncated = dir_ + "/truncated.idx";
  write_idx_u8(truncated, {600, 8, 8}, std::vector<uint8_t>(100, 7), false);
  expect_rejected(train(write_config(), "--set data.train_images=" + truncated), {"truncated.idx"});
  // labels outside [0, num_classes)
  expect_rejected(train(write_config(), "--set data.num_classes=3"), {"train-labels.gz"});
  // not an IDX file at all
  const std::string garbage = dir_ + "/garbage.idx";
  std::ofstream(garbage) << "this is not an idx file";
  expect_rejected(train(write_config(), "--set data.test_images=" + garbage), {"garbage.idx"});
}

TEST_F(JouleTrainCli, CheckPrintsResolvedConfigAndWritesNothing) {
  CommandResult r = train(write_config(), "--check --set train.epochs=7");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("epochs: 7"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("eval_batch_size: 1000"), std::string::npos) << "defaults are printed: " << r.output;
  EXPECT_FALSE(fs::exists(output_));
}

TEST_F(JouleTrainCli, TrainingWritesRunDirectoryAndLearns) {
  CommandResult r = train(write_config());
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string run = output_ + "/r";
  EXPECT_TRUE(fs::exists(run + "/config.pbtxt"));
  EXPECT_NE(read_file(run + "/config.pbtxt").find("batch_size: 30"), std::string::npos);
  EXPECT_EQ(losses("r").size(), 3u * (600 / 30));  // log_every_steps: 1, drop_last batches

  pb::Summary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(run + "/summary.json"), &summary).ok());
  EXPECT_EQ(summary.world_size(), 1u);
  EXPECT_EQ(summary.steps(), 60u);
  EXPECT_EQ(summary.samples(), 60.0 * 30);
  EXPECT_EQ(summary.stop_reason(), "max_epochs");
  EXPECT_GT(summary.final_accuracy(), 0.9) << "the synthetic classes are separable";
  EXPECT_EQ(summary.energy_j_per_rank_size(), 1);
  EXPECT_DOUBLE_EQ(summary.energy_j(), summary.energy_j_per_rank(0));
  ASSERT_EQ(summary.sources_size(), 1);
  EXPECT_EQ(summary.sources(0), "estimate");
  EXPECT_FALSE(summary.measured());

  // one eval line per epoch, accuracy in [0, 1]
  std::ifstream in(run + "/metrics.jsonl");
  int evals = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"kind\":\"eval\"") == std::string::npos) continue;
    pb::EvalRecord record;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << line;
    EXPECT_GE(record.accuracy(), 0.0);
    EXPECT_LE(record.accuracy(), 1.0);
    ++evals;
  }
  EXPECT_EQ(evals, 3);
  // a second run with the same name is refused and leaves the first untouched
  const std::string before = read_file(run + "/metrics.jsonl");
  CommandResult again = train(write_config());
  EXPECT_EQ(again.status, 2) << again.output;
  EXPECT_NE(again.output.find("exists already"), std::string::npos) << again.output;
  EXPECT_EQ(read_file(run + "/metrics.jsonl"), before);
}

// Exact repeats hold for one CPU math backend (auto may pick another one on another machine or load).
TEST_F(JouleTrainCli, SameSeedRepeatsExactlyOtherSeedDiffers) {
  const std::string config = write_config({.model = "mlp { hidden: 32 dropout: 0.1 }"});
  const std::string math = std::string(" --set run.cpu_math=") + (JOULE_HAVE_ONEDNN ? "onednn" : "eigen");
  ASSERT_EQ(train(config, "--set run.name=a" + math).status, 0);
  ASSERT_EQ(train(config, "--set run.name=b --set run.threads=1" + math).status, 0);
  ASSERT_EQ(train(config, "--set run.name=c --set run.seed=4" + math).status, 0);
  EXPECT_FALSE(losses("a").empty());
  EXPECT_EQ(losses("a"), losses("b")) << "same seed, different thread count: identical losses";
  EXPECT_NE(losses("a"), losses("c"));
}

TEST_F(JouleTrainCli, MaxStopsEarlyWithReason) {
  ASSERT_EQ(train(write_config(), "--set train.max_steps=7").status, 0);
  pb::Summary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(output_ + "/r/summary.json"), &summary).ok());
  EXPECT_EQ(summary.steps(), 7u);
  EXPECT_EQ(summary.stop_reason(), "max_steps");
}

TEST_F(JouleTrainCli, CnnTrainsOnSyntheticData) {
  CommandResult r = train(write_config({.model = "cnn { channels: 4 channels: 8 hidden: 16 }"}));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("cnn conv4-pool-conv8-pool-fc16-fc10"), std::string::npos) << r.output;
  EXPECT_EQ(losses("r").size(), 60u);
}

TEST_F(JouleTrainCli, MicroBatchesGiveTheSameTraining) {
  // gradient accumulation over 3 micro-batches of 10 = one batch of 30, up to summation order
  ASSERT_EQ(train(write_config(), "--set run.name=full").status, 0);
  ASSERT_EQ(train(write_config(), "--set run.name=micro --set train.micro_batches=3").status, 0);
  const std::vector<double> full = losses("full"), micro = losses("micro");
  ASSERT_EQ(full.size(), micro.size());
  ASSERT_FALSE(full.empty());
  for (size_t i = 0; i < full.size(); ++i) EXPECT_NEAR(micro[i], full[i], 1e-5 * std::fabs(full[i])) << "step " << i + 1;
  expect_rejected(train(write_config(), "--set train.micro_batches=4"), {"train.micro_batches = 4", "divisor of 30"});
}

TEST_F(JouleTrainCli, RankLogWindowsPartitionTheRun) {
  // windows close at the first step boundary after window_s: at 1 ns that is every step, however
  // fast the CPU (at 1 ms a fast CPU ran the 60 steps in 3 windows)
  ASSERT_EQ(train(write_config(), "--set energy.window_s=1e-9").status, 0);
  std::ifstream in(output_ + "/r/rank-00000.jsonl");
  int windows = 0;
  uint32_t next_step = 1;
  double samples = 0, window_j = 0;
  for (std::string line; std::getline(in, line);) {
    pb::RankWindowRecord record;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << line;
    EXPECT_EQ(record.rank(), 0u);
    EXPECT_EQ(record.window(), static_cast<uint32_t>(windows));
    const pb::PhaseBreakdown& p = record.seconds();
    const double sum = p.data() + p.forward() + p.backward() + p.comm_wait() + p.optimizer() + p.eval() +
                       p.checkpoint() + p.idle();
    // t_start/t_end are Unix seconds (~1.8e9): their difference carries ~2.4e-7 s of rounding
    EXPECT_NEAR(sum, record.t_end() - record.t_start(), 1e-6) << "phases sum to the window";
    const pb::PhaseBreakdown& e = record.phase_energy_j();
    const double phase_j = e.data() + e.forward() + e.backward() + e.comm_wait() + e.optimizer() + e.eval() +
                           e.checkpoint() + e.idle();
    EXPECT_NEAR(phase_j, record.energy_j().total(), 1e-9 * record.energy_j().total()) << "closure: phases";
    EXPECT_EQ(record.energy_j().total(), record.energy_j().gpu() + record.energy_j().cpu() + record.energy_j().dram());
    ASSERT_EQ(record.sources_size(), 1);
    EXPECT_TRUE(record.sources(0) == "estimate" ? !record.measured() : record.measured()) << record.sources(0);
    window_j += record.energy_j().total();
    if (record.samples() > 0) {
      EXPECT_EQ(record.step_first(), next_step) << "windows follow each other without gaps";
      next_step = record.step_last() + 1;
    }
    samples += record.samples();
    ++windows;
  }
  EXPECT_GE(windows, 60) << "one window per step at least";
  EXPECT_EQ(samples, 60.0 * 30) << "every trained sample is in exactly one window";
  pb::Summary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(output_ + "/r/summary.json"), &summary).ok());
  EXPECT_GT(summary.energy_j(), 0);
  EXPECT_NEAR(window_j, summary.energy_j(), 1e-9 * summary.energy_j()) << "closure: windows sum to the run total";
  EXPECT_NEAR(summary.accuracy_per_kj(), summary.final_accuracy() / (summary.energy_j() / 1000), 1e-9);
}

// Tiny energies keep their digits from the rank logs to the summary (the per-rank totals cross
// ranks as text: six decimals would make them 0).
TEST_F(JouleTrainCli, TinyEnergiesKeepTheirDigits) {
  ASSERT_EQ(train(write_config(), "--set energy.window_s=0.001 --set energy.estimate_watts_per_core=1e-9").status, 0);
  std::ifstream in(output_ + "/r/rank-00000.jsonl");
  double window_j = 0;
  for (std::string line; std::getline(in, line);) {
    pb::RankWindowRecord record;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << line;
    window_j += record.energy_j().total();
  }
  pb::Summary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(output_ + "/r/summary.json"), &summary).ok());
  ASSERT_GT(window_j, 0);
  EXPECT_LT(window_j, 1e-6);
  EXPECT_NEAR(summary.energy_j(), window_j, 1e-9 * window_j);
  EXPECT_NEAR(summary.energy_j_per_rank(0), window_j, 1e-9 * window_j);
}

// TensorBoard's own reader on a real run's event file: the scalars the run directory promises.
TEST_F(JouleTrainCli, TensorBoardReadsTheRunsEvents) {
  const std::string python = "PYTHONPATH=" + shell_quote(std::string(JOULE_BINARY_DIR) + "/python") +
                             "${PYTHONPATH:+:$PYTHONPATH} python3 -c ";
  if (run_command(python + shell_quote("import tensorboard")).status != 0)
    GTEST_SKIP() << "TensorBoard's reader is not available (python3 -c 'import tensorboard' failed)";
  ASSERT_EQ(train(write_config()).status, 0);
  const std::string code =
      "import sys\n"
      "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
      "acc = EventAccumulator(sys.argv[1]); acc.Reload()\n"
      "tags = sorted(acc.Tags()['scalars'])\n"
      "print(' '.join(tags) + ' ')\n"
      "print('loss_steps', len(acc.Scalars('loss')), 'last_accuracy', acc.Scalars('accuracy')[-1].value)\n";
  const CommandResult r = run_command(python + shell_quote(code) + " " + shell_quote(output_ + "/r"));
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* tag : {"loss", "accuracy", "lr", "batch_size", "precision_bits", "energy_j_estimate",
                          "energy_j_estimate/rank_0", "power_w_estimate/rank_0", "j_per_sample_estimate"})
    EXPECT_NE(r.output.find(std::string(tag) + " "), std::string::npos) << tag << " missing: " << r.output;
  EXPECT_NE(r.output.find("loss_steps 60 "), std::string::npos) << r.output;
}

TEST_F(JouleTrainCli, SigintStopsCleanlyWithStatus3) {
  const std::string config = write_config({.train = "batch_size: 30 epochs: 100000 log_every_steps: 1"});
  const std::string metrics = output_ + "/r/metrics.jsonl";
  // start, wait until training has logged a step, interrupt, report the exit status
  const std::string script = binary_path("joule-train") + " --config " + shell_quote(config) + " --output " +
                             shell_quote(output_) + " & pid=$!; i=0; while [ ! -s " + shell_quote(metrics) +
                             " ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; kill -INT $pid; wait $pid;"
                             " echo status=$?";
  CommandResult r = run_command("sh -c " + shell_quote(script));
  EXPECT_NE(r.output.find("status=3"), std::string::npos) << r.output;
  pb::Summary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read_file(output_ + "/r/summary.json"), &summary).ok());
  EXPECT_EQ(summary.stop_reason(), "interrupted");
  EXPECT_GT(summary.steps(), 0u);
}

}  // namespace
}  // namespace joule::testing
