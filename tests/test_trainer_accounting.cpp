// The Trainer driven by a scripted meter (TrainerIo::meter): every window's energy is the
// difference of two of the meter's readings, its phase energies split that difference by the
// phase seconds and sum to it, the windows sum to the summary's total, and the eval line's energy
// is a reading minus the first one — all to 1e-9 relative. The meter's readings follow a script
// (quadratic in the read count, so no two differences coincide): nothing here depends on timing.
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "core/config.h"
#include "core/dataset.h"
#include "core/proto/records.pb.h"
#include "distributed/trainer.h"
#include "energy/meter.h"
#include "energy/estimate_meter.h"
#include "tests/support/synthetic_data.h"

namespace joule {
namespace {

class ScriptedMeter final : public energy::Meter {
 public:
  energy::MeterReading read() override {
    const double k = static_cast<double>(readings_.size());
    energy::MeterReading r;
    r.time_s = monotonic_seconds();
    r.cpu_j = 7.0 * k + 0.013 * k * k;
    r.dram_j = 0.5 * k;
    readings_.push_back(r.total_j());
    return r;
  }
  std::vector<std::string> sources() const override { return {"rapl"}; }
  bool measured() const override { return true; }
  const std::vector<double>& readings() const { return readings_; }

 private:
  std::vector<double> readings_;
};

double phase_sum(const pb::PhaseBreakdown& p) {
  return p.data() + p.forward() + p.backward() + p.comm_wait() + p.optimizer() + p.eval() + p.checkpoint() + p.idle();
}

bool close_rel(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)); }

TEST(TrainerAccounting, ScriptedMeterTraceDrivesWindowsPhasesAndTotals) {
  const std::string dir = testing::make_temp_dir("joule-accounting");
  const testing::SyntheticFiles files = testing::write_synthetic_dataset(dir + "/data", 640, 100, 3);
  pb::Config config = parse_config_text(
      "run { seed: 2 threads: 1 cpu_math: 'eigen' }\n"
      "data { train_images: '" + files.train_images + "' train_labels: '" + files.train_labels +
      "' test_images: '" + files.test_images + "' test_labels: '" + files.test_labels + "' }\n"
      "model { mlp { hidden: 16 } }\n"
      "train { batch_size: 64 epochs: 2 eval_every_steps: 7 }\n"
      "energy { window_s: 1e-9 schedule { at_step: 5 batch_size: 128 } }\n",
      "accounting");
  fill_config_defaults(config);
  validate_config(config, "accounting");
  const Dataset train_set = load_dataset(files.train_images, files.train_labels, 10, 0);
  const Dataset test_set = load_dataset(files.test_images, files.test_labels, 10, 0);
  LocalCommunicator comm;
  ScriptedMeter meter;
  TrainerIo io;
  io.progress = nullptr;
  io.run_dir = dir + "/run";
  io.meter = &meter;
  std::filesystem::create_directory(io.run_dir);
  Trainer trainer(config, train_set, test_set, comm);
  const pb::Summary summary = trainer.run(io);

  const std::vector<double>& e = meter.readings();
  ASSERT_GT(e.size(), 10u);
  std::ifstream log(io.run_dir + "/rank-00000.jsonl");
  size_t edge = 0;  // index of the reading that opened the current window
  double windows_j = 0;
  int windows = 0;
  for (std::string line; std::getline(log, line); ++windows) {
    pb::RankWindowRecord w;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &w).ok()) << line;
    const double total = w.energy_j().total();
    // the window closed at some later reading: the first whose difference from the edge is total
    size_t end = edge + 1;
    while (end < e.size() && !close_rel(e[end] - e[edge], total)) ++end;
    ASSERT_LT(end, e.size()) << "window " << windows << ": " << total << " J is no difference of readings from #"
                             << edge;
    EXPECT_NEAR(w.energy_j().cpu() + w.energy_j().dram(), total, 1e-9 * total);
    EXPECT_NEAR(phase_sum(w.phase_energy_j()), total, 1e-9 * total) << "window " << windows;
    const double seconds = phase_sum(w.seconds());
    const double forward_share = seconds > 0 ? w.seconds().forward() / seconds : 0;
    EXPECT_NEAR(w.phase_energy_j().forward(), total * forward_share, 1e-9 * total) << "window " << windows;
    windows_j += total;
    edge = end;
  }
  EXPECT_GT(windows, 5);
  EXPECT_NEAR(windows_j, summary.energy_j(), 1e-9 * summary.energy_j());
  EXPECT_NEAR(summary.energy_j(), e[edge] - e[0], 1e-9 * summary.energy_j()) << "the run total is last edge - first";

  // eval lines: a reading minus the first
  std::ifstream metrics(io.run_dir + "/metrics.jsonl");
  int evals = 0;
  for (std::string line; std::getline(metrics, line);) {
    if (line.find("\"kind\":\"eval\"") == std::string::npos) continue;
    pb::EvalRecord r;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &r).ok());
    bool found = false;
    for (double reading : e) found = found || close_rel(reading - e[0], r.energy_j());
    EXPECT_TRUE(found) << "eval energy " << r.energy_j();
    ++evals;
  }
  EXPECT_GE(evals, 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace joule
