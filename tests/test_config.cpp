// Config parsing, overrides, defaults and validation: each bad value is named in the error.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"

namespace joule {
namespace {

pb::Config parse(const std::string& text) { return parse_config_text(text, "test.pbtxt"); }

// Expects validation of `text` (after defaults) to fail with a message containing every needle.
void expect_invalid(const std::string& text, const std::vector<std::string>& needles) {
  try {
    pb::Config c = parse(text);
    fill_config_defaults(c);
    validate_config(c, "test.pbtxt", {.check_files = false});
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    for (const std::string& needle : needles) EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
  }
}

const char* kMlp = "model { mlp { hidden: 16 } }\n";

TEST(Config, DefaultsAreFilledAndPrinted) {
  pb::Config c = parse(kMlp);
  fill_config_defaults(c);
  validate_config(c, "test.pbtxt", {.check_files = false});
  EXPECT_EQ(c.train().batch_size(), 128);
  EXPECT_TRUE(c.train().has_batch_size());
  EXPECT_TRUE(c.train().optimizer().has_sgd());
  EXPECT_FLOAT_EQ(c.train().optimizer().sgd().lr(), 0.05f);
  const std::string text = config_to_text(c);
  EXPECT_NE(text.find("batch_size: 128"), std::string::npos) << text;
  EXPECT_NE(text.find("output: \"runs\""), std::string::npos) << text;
  // the printed resolved config parses back to the same message
  EXPECT_EQ(parse(text).SerializeAsString(), c.SerializeAsString());
}

TEST(Config, UnknownFieldNamesFieldAndLine) {
  try {
    parse("train {\n  bath_size: 3\n}\n");
    FAIL() << "accepted an unknown field";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(e.message().find("bath_size"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("test.pbtxt:2:"), std::string::npos) << e.message();
  }
}

TEST(Config, WrongTypeNamesField) {
  try {
    parse("train { batch_size: \"many\" }");
    FAIL() << "accepted a string for an int";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("batch_size"), std::string::npos) << e.message();
  }
}

TEST(Config, RangeViolationsNameFieldAndRange) {
  expect_invalid(std::string(kMlp) + "train { batch_size: 0 }", {"train.batch_size", ">= 1"});
  expect_invalid(std::string(kMlp) + "train { epochs: 0 }", {"train.epochs", "1 .. 100000"});
  expect_invalid(std::string(kMlp) + "train { eval_every_samples: -5 }", {"train.eval_every_samples", ">= 0"});
  expect_invalid(std::string(kMlp) + "train { optimizer { sgd { lr: 0 } } }", {"train.optimizer.sgd.lr", "> 0"});
  expect_invalid(std::string(kMlp) + "train { optimizer { adamw { lr: -1 } } }", {"train.optimizer.adamw.lr"});
  expect_invalid(std::string(kMlp) + "train { optimizer { sgd { momentum: 0 nesterov: true } } }", {"nesterov"});
  expect_invalid("model { mlp { hidden: 16 hidden: 0 } }", {"model.mlp.hidden[1]"});
  expect_invalid("model { mlp { dropout: 1 } }", {"model.mlp.dropout", "0 <= value < 1"});
  expect_invalid("model { cnn { channels: 8 kernel_size: 4 } }", {"model.cnn.kernel_size", "odd"});
  expect_invalid("model { cnn { } }", {"model.cnn.channels"});
  expect_invalid("", {"model", "mlp { ... } or cnn { ... }"});
  expect_invalid(std::string(kMlp) + "data { normalize_std: 0 }", {"data.normalize_std"});
  expect_invalid(std::string(kMlp) + "run { name: \"a/b\" }", {"run.name"});
  expect_invalid(std::string(kMlp) + "run { device: \"cuda\" }", {"run.device", "CUDA"});
  expect_invalid(std::string(kMlp) + "train { schedule { min_lr_ratio: 2 } }", {"train.schedule.min_lr_ratio"});
}

TEST(Config, MissingDataFileIsNamed) {
  pb::Config c = parse(std::string(kMlp) + "data { train_images: \"/nonexistent/train.gz\" }");
  fill_config_defaults(c);
  try {
    validate_config(c, "test.pbtxt", {.check_files = true});
    FAIL() << "accepted a missing file";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("data.train_images"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("/nonexistent/train.gz"), std::string::npos) << e.message();
  }
}

TEST(Config, OverridesSetScalarsEnumsAndOneofs) {
  pb::Config c = parse(kMlp);
  apply_config_override(c, "train.batch_size=256");
  apply_config_override(c, "train.schedule.kind=warmup_cosine");
  apply_config_override(c, "train.optimizer.adamw.lr=0.003");
  apply_config_override(c, "run.name=abc");
  EXPECT_EQ(c.train().batch_size(), 256);
  EXPECT_EQ(c.train().schedule().kind(), pb::warmup_cosine);
  EXPECT_TRUE(c.train().optimizer().has_adamw());
  EXPECT_FLOAT_EQ(c.train().optimizer().adamw().lr(), 0.003f);
  EXPECT_EQ(c.run().name(), "abc");
}

TEST(Config, BadOverridesAreNamed) {
  pb::Config c = parse(kMlp);
  auto expect_bad = [&](const std::string& assignment, const std::string& needle) {
    try {
      apply_config_override(c, assignment);
      ADD_FAILURE() << "accepted --set " << assignment;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    }
  };
  expect_bad("train.bach_size=3", "has no field 'bach_size'");
  expect_bad("train.batch_size=lots", "expected a value of type int32");
  expect_bad("train.batch_size", "FIELD.PATH=VALUE");
  expect_bad("model.mlp.hidden=3", "repeated");
  expect_bad("train=3", "is a section");
  expect_bad("train.schedule.kind=sideways", "ScheduleKind");
}


// energy.controller: every bad value named with what was expected; a schedule beside it is refused.
TEST(Config, ControllerFieldsAreValidated) {
  const std::string m = kMlp;
  auto controller = [&](const std::string& body) { return m + "energy { controller { " + body + " } }"; };
  expect_invalid(controller("batch_size { mode: ADAPT min: 512 max: 256 }"),
                 {"energy.controller.batch_size.min = 512", "energy.controller.batch_size.max = 256"});
  expect_invalid(controller("precision { mode: ADAPT allowed: \"fp8\" }"),
                 {"energy.controller.precision.allowed[0]", "fp8", "f32, bf16 or f16"});
  expect_invalid(controller("precision { allowed: \"f16\" }"), {"energy.controller.precision.allowed[0]", "GPU"});
  expect_invalid(controller("min_gain_per_kj: -1"), {"energy.controller.min_gain_per_kj", ">= 0"});
  expect_invalid(controller("min_gain_per_epoch: -1"), {"energy.controller.min_gain_per_epoch", ">= 0"});
  expect_invalid(controller("min_gain_per_kj: 8 min_gain_per_epoch: 1"),
                 {"energy.controller.min_gain_per_kj = 8", "energy.controller.min_gain_per_epoch = 1", "at most one"});
  expect_invalid(controller("budget_kj: -5"), {"energy.controller.budget_kj", ">= 0"});
  expect_invalid(controller("max_seconds: -1"), {"energy.controller.max_seconds"});
  expect_invalid(controller("eta: 1.5"), {"energy.controller.eta", "0 .. 1"});
  expect_invalid(controller("eta: -0.1"), {"energy.controller.eta"});
  expect_invalid(controller("max_slowdown: 0.9"), {"energy.controller.max_slowdown", ">= 1"});
  expect_invalid(controller("target_accuracy: 88"), {"energy.controller.target_accuracy", "0.88"});
  expect_invalid(controller("patience: 0"), {"energy.controller.patience"});
  expect_invalid(controller("transient_s: 0.5"), {"energy.controller.transient_s", ">= 1"});
  expect_invalid(controller("max_explore_fraction: 2"), {"energy.controller.max_explore_fraction"});
  expect_invalid(controller("clocks { min_mhz: 1500 max_mhz: 900 }"), {"energy.controller.clocks.min_mhz = 1500"});
  expect_invalid(controller("clocks { mode: ADAPT }"), {"energy.controller.clocks.mode = ADAPT", "energy.clock.gpu"});
  expect_invalid(m + "energy { controller { target_accuracy: 0.8 } schedule { at_step: 5 batch_size: 64 } }",
                 {"energy.controller and energy.schedule"});
  expect_invalid(m + "train { schedule { kind: warmup_stable_decay decay_fraction: 0 } }",
                 {"train.schedule.decay_fraction", "0 < value <= 1"});
  // the defaults are valid and leave the controller off; any knob on ADAPT or stop rule turns it on
  pb::Config c = parse(controller("eta: 0.5 max_slowdown: 1.05"));
  fill_config_defaults(c);
  validate_config(c, "test.pbtxt", {.check_files = false});
  EXPECT_FALSE(controller_active(c.energy().controller()));
  c.mutable_energy()->mutable_controller()->mutable_precision()->set_mode(pb::ADAPT);
  EXPECT_TRUE(controller_active(c.energy().controller()));
  pb::ControllerConfig stop;
  stop.set_min_gain_per_kj(1);
  EXPECT_TRUE(controller_active(stop));
  pb::ControllerConfig per_epoch;
  per_epoch.set_min_gain_per_epoch(1);
  EXPECT_TRUE(controller_active(per_epoch));
}

}  // namespace
}  // namespace joule
