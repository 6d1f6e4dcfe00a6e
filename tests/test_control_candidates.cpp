// What the energy controller may choose from, derived alike by a training run and joule-sim
// (distributed/energy_control.h: candidate_batches, candidate_precisions, candidate_clocks), and the
// simulated rank's clock knob that applies its clock decisions (distributed/sim_clock_knob.h).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "distributed/energy_control.h"
#include "distributed/sim_clock_knob.h"
#include "tests/support/synthetic_gpu.h"

namespace joule {
namespace {

pb::ControllerBatchConfig batch_bounds(int64_t min, int64_t max) {
  pb::ControllerBatchConfig c;
  c.set_min(min);
  c.set_max(max);
  return c;
}

TEST(ControlCandidates, BatchesAreTheStartTimesPowersOfTwoWithinTheBoundsAndMultiplesOfTheRanks) {
  EXPECT_EQ(candidate_batches(batch_bounds(64, 2048), 2, 128, 1, 1 << 20, 1 << 20),
            (std::vector<int64_t>{64, 128, 256, 512, 1024, 2048}));
  // no bounds: the caller's (a run's data, the simulator's 16× the start)
  EXPECT_EQ(candidate_batches(batch_bounds(0, 0), 2, 128, 2, 1024, 60000),
            (std::vector<int64_t>{2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}));
  EXPECT_EQ(candidate_batches(batch_bounds(0, 4096), 2, 128, 32, 1024, 2000).back(), 1024);  // the hard bound
  // multiples of the ranks only: 3 ranks, start 96 (an odd multiple of 3 stops the halving)
  EXPECT_EQ(candidate_batches(batch_bounds(0, 800), 3, 96, 3, 800, 800),
            (std::vector<int64_t>{3, 6, 12, 24, 48, 96, 192, 384, 768}));
  // a start outside the bounds: nothing consistent to adapt
  EXPECT_TRUE(candidate_batches(batch_bounds(256, 2048), 2, 128, 1, 4096, 4096).empty());
}

TEST(ControlCandidates, PrecisionsAndClocks) {
  pb::ControllerPrecisionConfig p;
  EXPECT_EQ(candidate_precisions(p), (std::vector<std::string>{"f32", "bf16"}));
  p.add_allowed("bf16");
  p.add_allowed("f32");
  p.add_allowed("bf16");
  EXPECT_EQ(candidate_precisions(p), (std::vector<std::string>{"bf16", "f32"}));
  pb::ControllerClockConfig c;
  const std::vector<unsigned> supported = {900, 1000, 1100, 1200};
  EXPECT_EQ(candidate_clocks(supported, c), (std::vector<uint32_t>{900, 1000, 1100, 1200}));
  c.set_min_mhz(950);
  c.set_max_mhz(1100);
  EXPECT_EQ(candidate_clocks(supported, c), (std::vector<uint32_t>{1000, 1100}));
}

TEST(SimClockKnob, LocksTheNearestSupportedClockAndReadsBackTheModelsClock) {
  const sim::GpuModel gpu(joule::testing::synthetic(300));  // 900-2000 MHz by 20, capped at 300 W
  auto supported = std::make_shared<const std::vector<unsigned>>(sim_supported_clocks(gpu));
  ASSERT_EQ(supported->size(), 56u);
  EXPECT_EQ(supported->front(), 900u);
  EXPECT_EQ(supported->back(), 2000u);
  SimClockKnob knob(gpu, supported);
  EXPECT_TRUE(knob.available());
  EXPECT_STREQ(knob.mode(), "sim");
  EXPECT_EQ(knob.locked_mhz(), 0u);
  EXPECT_EQ(knob.running_mhz(), 2000);  // no lock: f_max
  energy::ClockChange c = knob.lock_sm_clock(1210);  // between 1200 and 1220: the lower one
  EXPECT_EQ(c.snapped_mhz, 1200u);
  EXPECT_EQ(c.applied_mhz, 1200u);  // below the cap
  EXPECT_EQ(knob.locked_mhz(), 1200u);
  EXPECT_EQ(knob.running_mhz(), 1200);
  c = knob.lock_sm_clock(1990);  // the cap holds the card lower: it reads back the capped clock
  EXPECT_EQ(c.snapped_mhz, 1980u);
  EXPECT_EQ(c.applied_mhz, static_cast<unsigned>(std::lround(gpu.effective_clock_mhz(1980))));
  EXPECT_LT(c.applied_mhz, 1980u);
  EXPECT_NE(c.message.find("power cap"), std::string::npos) << c.message;
  knob.reset();
  EXPECT_EQ(knob.locked_mhz(), 0u);
  EXPECT_EQ(knob.running_mhz(), 2000);
  // the same interface as ClockActuator's
  energy::ClockKnob& as_knob = knob;
  EXPECT_EQ(as_knob.lock_sm_clock(100).snapped_mhz, 900u);  // below the range: the lowest
}

}  // namespace
}  // namespace joule
