// WindowLog's two ways of closing a window: close_window (the trainer's, the decision taken inside)
// and take_window + write_window (the cluster simulator's, every rank's window taken before any
// record is written) write the same record; a line sink receives exactly what the file gets.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "energy/meter.h"
#include "energy/window_log.h"
#include "core/error.h"
#include "tests/support/synthetic_data.h"

namespace joule::energy {
namespace {

// Readings follow the read count (no clock): the k-th read is at k seconds, 3k + 0.01k² joules.
class CountingMeter final : public Meter {
 public:
  MeterReading read() override {
    const double k = reads_++;
    MeterReading r;
    r.time_s = k;
    r.gpu_j = 3 * k + 0.01 * k * k;
    return r;
  }
  std::vector<std::string> sources() const override { return {"nvml"}; }
  bool measured() const override { return true; }

 private:
  int reads_ = 0;
};

// Two windows of phases at fixed times, closed by `close`.
template <typename Close>
void run_windows(WindowLog& log, const Close& close) {
  log.clock().enter(Phase::forward, 0.5);
  log.clock().enter(Phase::backward, 1.0);
  log.step_done(1, 32);
  close(log, 1, 2.0, "");
  log.clock().enter(Phase::comm_wait, 2.5);
  log.step_done(2, 32);
  log.step_done(3, 16);
  close(log, 3, 4.0, "controller: a decision");
}

TEST(WindowLog, TakeAndWriteWriteWhatCloseWindowWrites) {
  const std::string dir = testing::make_temp_dir("joule-window-log");
  const WindowKnobs knobs{64, "bf16", 1410};
  CountingMeter file_meter, sink_meter;
  {
    WindowLog file_log(dir + "/rank-00000.jsonl", 0, "host", file_meter, 1.0, 0.0, 100.0);
    run_windows(file_log, [&](WindowLog& log, int64_t step, double now, const std::string& decision) {
      log.close_window(step, knobs, decision, now);
    });
  }
  std::vector<std::string> lines;
  WindowLog sink_log([&](const std::string& line) { lines.push_back(line); }, 0, "host", sink_meter, 1.0, 0.0, 100.0);
  run_windows(sink_log, [&](WindowLog& log, int64_t step, double now, const std::string& decision) {
    const WindowEnergy e = log.take_window(now);
    EXPECT_GT(e.total_j, 0);
    log.write_window(step, knobs, decision, e);
  });
  std::ifstream in(dir + "/rank-00000.jsonl");
  std::vector<std::string> file_lines;
  for (std::string line; std::getline(in, line);) file_lines.push_back(line);
  ASSERT_EQ(file_lines.size(), 2u);
  EXPECT_EQ(lines, file_lines);
  EXPECT_NE(lines[1].find("\"decision\":\"controller: a decision\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"step_first\":2"), std::string::npos) << lines[1];
  // a write without a take, or two takes, is a programming error
  EXPECT_THROW(sink_log.write_window(4, knobs, "", WindowEnergy{}), Error);
  sink_log.take_window(5.0);
  EXPECT_THROW(sink_log.take_window(6.0), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace joule::energy
