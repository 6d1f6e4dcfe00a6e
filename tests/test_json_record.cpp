// JSON records: snake_case names and zero-valued fields printed, one line for .jsonl, round trip
// through the protobuf JSON parser, and pretty output of a Summary with repeated fields.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <string>

#include "core/json_record.h"
#include "core/proto/records.pb.h"

namespace joule {
namespace {

template <class Message>
Message parse(const std::string& json) {
  Message out;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &out);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(JsonRecord, TrainRecordLine) {
  pb::TrainRecord record;
  record.set_kind("train");
  record.set_loss(0.5);
  record.set_lr(0.25);
  record.set_batch_size(128);
  const std::string line = to_json_line(record);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  EXPECT_TRUE(contains(line, "\"kind\":\"train\"")) << line;
  EXPECT_TRUE(contains(line, "\"step\":0")) << "zero-valued fields are printed: " << line;
  EXPECT_TRUE(contains(line, "\"epoch\":0")) << line;
  EXPECT_TRUE(contains(line, "\"samples\":0")) << line;
  EXPECT_TRUE(contains(line, "\"precision\":\"\"")) << line;
  EXPECT_TRUE(contains(line, "\"batch_size\":128")) << "snake_case names: " << line;
  EXPECT_FALSE(contains(line, "batchSize")) << line;
  EXPECT_TRUE(contains(line, "\"loss\":0.5")) << line;
  EXPECT_TRUE(contains(line, "\"lr\":0.25")) << line;
}

TEST(JsonRecord, TrainRecordRoundTrip) {
  pb::TrainRecord record;
  record.set_kind("train");
  record.set_step(4294967295u);
  record.set_epoch(3);
  record.set_samples(1.5e9);
  record.set_loss(0.123456789012345);
  record.set_lr(1e-4);
  record.set_batch_size(256);
  record.set_precision("f32");
  const auto back = parse<pb::TrainRecord>(to_json_line(record));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(record, back))
      << record.DebugString() << "\n" << back.DebugString();
  EXPECT_EQ(back.loss(), record.loss()) << "doubles round-trip exactly";

  const pb::TrainRecord empty;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(empty, parse<pb::TrainRecord>(to_json_line(empty))));
}

TEST(JsonRecord, SummaryPrettyWithRepeatedFields) {
  pb::Summary summary;
  summary.set_world_size(2);
  summary.set_steps(100);
  summary.add_energy_j_per_rank(12.5);
  summary.add_energy_j_per_rank(13.25);
  summary.add_sources("estimate");
  summary.add_sources("rapl");
  summary.set_stop_reason("max_epochs");
  summary.set_measured(false);
  summary.set_model("mlp");
  const std::string pretty = to_json_pretty(summary);
  EXPECT_TRUE(contains(pretty, "\n")) << pretty;
  EXPECT_TRUE(contains(pretty, "\"energy_j_per_rank\"")) << pretty;
  EXPECT_TRUE(contains(pretty, "\"sources\"")) << pretty;
  EXPECT_TRUE(contains(pretty, "\"estimate\"")) << pretty;
  EXPECT_TRUE(contains(pretty, "\"rapl\"")) << pretty;
  EXPECT_TRUE(contains(pretty, "\"measured\": false")) << pretty;
  EXPECT_TRUE(contains(pretty, "\"final_accuracy\": 0")) << pretty;
  EXPECT_TRUE(contains(pretty, "\"joule_version\": \"\"")) << pretty;
  const auto back = parse<pb::Summary>(pretty);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(summary, back)) << pretty;
  ASSERT_EQ(back.energy_j_per_rank_size(), 2);
  EXPECT_EQ(back.energy_j_per_rank(1), 13.25);
  EXPECT_EQ(back.sources(0), "estimate");

  // empty repeated fields are printed too, as []
  const std::string line = to_json_line(pb::Summary{});
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_TRUE(contains(line, "\"energy_j_per_rank\":[]")) << line;
  EXPECT_TRUE(contains(line, "\"sources\":[]")) << line;
  EXPECT_TRUE(contains(line, "\"world_size\":0")) << line;
}

TEST(JsonRecord, EvalRecordNames) {
  pb::EvalRecord record;
  record.set_kind("eval");
  record.set_accuracy(0.875);
  const std::string line = to_json_line(record);
  EXPECT_TRUE(contains(line, "\"eval_loss\":0")) << line;
  EXPECT_TRUE(contains(line, "\"energy_j\":0")) << line;
  EXPECT_TRUE(contains(line, "\"accuracy\":0.875")) << line;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(record, parse<pb::EvalRecord>(line)));
}

}  // namespace joule
