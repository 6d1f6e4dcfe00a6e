// Knob changes resolved from the schedule: bounds, rank multiples, micro-batches that follow the
// batch, and the one-line description every decision carries.
#include "distributed/knob_control.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

pb::Config config_with(const std::string& energy, int batch = 128, int micro = 2) {
  pb::Config c = parse_config_text("model { mlp { } } train { batch_size: " + std::to_string(batch) +
                                       " micro_batches: " + std::to_string(micro) + " } energy { " + energy + " }",
                                   "test");
  fill_config_defaults(c);
  return c;
}

TEST(KnobControl, ScheduleResolvesInOrderAndMicroBatchesFollowTheRows) {
  const pb::Config c = config_with("schedule { at_step: 3 batch_size: 512 } schedule { at_step: 9 precision: 'bf16' }"
                                   " schedule { at_step: 10 batch_size: 96 micro_batches: 3 }");
  const std::vector<pb::Knobs> k = resolve_schedule(c, 2, 60000);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0].global_batch(), 512u);
  EXPECT_EQ(k[0].micro_batches(), 2u) << "train.micro_batches kept: 128 rows each";
  EXPECT_EQ(k[1].global_batch(), 512u) << "unset fields keep their value";
  EXPECT_EQ(k[1].precision(), "bf16");
  EXPECT_EQ(k[2].micro_batches(), 3u);
  EXPECT_EQ(k[2].precision(), "bf16");
  EXPECT_EQ(describe_change(k[0], k[1]), "precision f32 -> bf16");
  EXPECT_EQ(describe_change(initial_knobs(c, 2), k[0]), "batch 128 -> 512");
  EXPECT_EQ(describe_change(k[1], k[1]), "");
}

TEST(KnobControl, MicroBatchesThatDoNotDivideTakeTheNextDivisor) {
  const pb::Config c = config_with("schedule { at_step: 1 batch_size: 198 }", 128, 2);  // local 99
  EXPECT_EQ(resolve_schedule(c, 2, 60000)[0].micro_batches(), 3u) << "2 does not divide 99; 3 does";
  const pb::Config one = config_with("schedule { at_step: 1 batch_size: 2 }", 128, 2);  // local 1
  EXPECT_EQ(resolve_schedule(one, 2, 60000)[0].micro_batches(), 1u);
}

TEST(KnobControl, InvalidChangesNameTheEntry) {
  testing::expect_invalid_input([] { resolve_schedule(config_with("schedule { at_step: 1 batch_size: 129 }"), 2, 60000); },
                              "energy.schedule[0].batch_size = 129: expected a multiple of the 2 ranks");
  testing::expect_invalid_input(
      [] { resolve_schedule(config_with("batch { max: 256 } schedule { at_step: 1 batch_size: 512 }"), 2, 60000); },
      "energy.schedule[0].batch_size = 512: expected 2 .. 256");
  testing::expect_invalid_input(
      [] { resolve_schedule(config_with("schedule { at_step: 1 batch_size: 64 micro_batches: 5 }"), 2, 60000); },
      "energy.schedule[0].micro_batches = 5: expected a divisor of the local batch 32");
  testing::expect_invalid_input([] { validate_config(config_with("schedule { at_step: 4 } schedule { at_step: 4 }"), "c"); },
                              "energy.schedule[1].at_step = 4: expected");
  testing::expect_invalid_input([] { validate_config(config_with("schedule { at_step: 1 precision: 'f16' }"), "c"); },
                              "energy.schedule[0].precision = \"f16\": expected f32 or bf16");
}

}  // namespace
}  // namespace joule
