#include "core/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/config_checker.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/gemm.h"
#include "core/text_parse_error.h"

namespace joule {
namespace {

namespace gp = google::protobuf;

std::string field_list(const gp::Descriptor* descriptor) {
  std::string names;
  for (int i = 0; i < descriptor->field_count(); ++i) names += (i ? ", " : "") + descriptor->field(i)->name();
  return names.empty() ? "(none yet)" : names;
}

void fill_defaults(gp::Message& message) {
  const gp::Descriptor* descriptor = message.GetDescriptor();
  const gp::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const gp::FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated()) continue;
    const bool in_oneof = field->real_containing_oneof() != nullptr;
    if (field->cpp_type() == gp::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (in_oneof && !reflection->HasField(message, field)) continue;
      fill_defaults(*reflection->MutableMessage(&message, field));
      continue;
    }
    if (in_oneof || reflection->HasField(message, field)) continue;
    switch (field->cpp_type()) {
      case gp::FieldDescriptor::CPPTYPE_INT32: reflection->SetInt32(&message, field, field->default_value_int32()); break;
      case gp::FieldDescriptor::CPPTYPE_INT64: reflection->SetInt64(&message, field, field->default_value_int64()); break;
      case gp::FieldDescriptor::CPPTYPE_UINT32: reflection->SetUInt32(&message, field, field->default_value_uint32()); break;
      case gp::FieldDescriptor::CPPTYPE_UINT64: reflection->SetUInt64(&message, field, field->default_value_uint64()); break;
      case gp::FieldDescriptor::CPPTYPE_FLOAT: reflection->SetFloat(&message, field, field->default_value_float()); break;
      case gp::FieldDescriptor::CPPTYPE_DOUBLE: reflection->SetDouble(&message, field, field->default_value_double()); break;
      case gp::FieldDescriptor::CPPTYPE_BOOL: reflection->SetBool(&message, field, field->default_value_bool()); break;
      case gp::FieldDescriptor::CPPTYPE_ENUM: reflection->SetEnum(&message, field, field->default_value_enum()); break;
      case gp::FieldDescriptor::CPPTYPE_STRING: reflection->SetString(&message, field, field->default_value_string()); break;
      case gp::FieldDescriptor::CPPTYPE_MESSAGE: break;
    }
  }
}

}  // namespace

pb::Config parse_config_text(const std::string& text, const std::string& origin) {
  pb::Config config;
  gp::TextFormat::Parser parser;
  FirstParseError errors(text);
  parser.RecordErrorsTo(&errors);
  JOULE_CHECK(parser.ParseFromString(text, &config), origin, ":", errors.first());
  return config;
}

void apply_text_override(gp::Message& root, const std::string& assignment, const std::string& what) {
  const size_t eq = assignment.find('=');
  JOULE_CHECK(eq != std::string::npos && eq > 0, "--set ", assignment, ": expected FIELD.PATH=VALUE");
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  gp::Message* message = &root;
  std::string walked;
  std::stringstream parts(path);
  std::string part;
  std::vector<std::string> components;
  while (std::getline(parts, part, '.')) components.push_back(part);
  for (size_t i = 0; i < components.size(); ++i) {
    const gp::Descriptor* descriptor = message->GetDescriptor();
    const gp::FieldDescriptor* field = descriptor->FindFieldByName(components[i]);
    JOULE_CHECK(field != nullptr, "--set ", path, ": ", walked.empty() ? "the " + what : walked, " has no field '",
                components[i], "' (fields: ", field_list(descriptor), ")");
    walked += (walked.empty() ? "" : ".") + components[i];
    JOULE_CHECK(!field->is_repeated(), "--set ", path, ": ", walked,
                " is a repeated field; --set takes scalar fields (edit the ", what, " file instead)");
    const bool last = i + 1 == components.size();
    if (field->cpp_type() == gp::FieldDescriptor::CPPTYPE_MESSAGE) {
      JOULE_CHECK(!last, "--set ", path, ": ", walked, " is a section; name one of its fields (",
                  field_list(field->message_type()), ")");
      message = message->GetReflection()->MutableMessage(message, field);
      continue;
    }
    JOULE_CHECK(last, "--set ", path, ": ", walked, " is a scalar field and has no field '", components[i + 1], "'");
    if (field->cpp_type() == gp::FieldDescriptor::CPPTYPE_STRING) {  // strings need no quotes on the command line
      message->GetReflection()->SetString(message, field, value);
      continue;
    }
    gp::TextFormat::Parser parser;
    FirstParseError errors;
    parser.RecordErrorsTo(&errors);
    JOULE_CHECK(parser.ParseFieldValueFromString(value, field, message), "--set ", path, "=", value,
                ": expected a value of type ", field->type_name(),
                field->enum_type() != nullptr ? " (one of the names in " + field->enum_type()->name() + ")" : "");
  }
}

void apply_config_override(pb::Config& config, const std::string& assignment) {
  apply_text_override(config, assignment, "config");
}

void fill_config_defaults(pb::Config& config) {
  if (!config.train().optimizer().has_sgd() && !config.train().optimizer().has_adamw())
    config.mutable_train()->mutable_optimizer()->mutable_sgd();
  fill_defaults(config);
}

// energy.clock: the GPU's name has the form of an NVML index or a PCI bus id; the bounds are ordered.
// Whether they are supported clocks is checked against the card (energy/clock_actuator.cpp).
static void validate_clock_knob(Checker& c, const pb::ClockKnobConfig& clock) {
  const std::string& gpu = clock.gpu();
  const bool index = !gpu.empty() && gpu.size() <= 9 && gpu.find_first_not_of("0123456789") == std::string::npos;
  const bool bus_id = !gpu.empty() && gpu.size() <= 16 &&
                      gpu.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos &&
                      gpu.find('.') != std::string::npos && gpu.find(':') != std::string::npos;
  JOULE_CHECK(gpu.empty() || gpu == "local" || index || bus_id, c.origin(), ": energy.clock.gpu = \"", gpu,
              "\": expected \"\" (no clock knob), \"local\" (the rank's local index), an NVML index (\"0\") or a "
              "PCI bus id (\"0000:1b:00.0\")");
  c.in_range<uint32_t>("energy.clock.min_mhz", clock.min_mhz(), 0, 100000);
  c.in_range<uint32_t>("energy.clock.max_mhz", clock.max_mhz(), 0, 100000);
  JOULE_CHECK(clock.min_mhz() == 0 || clock.max_mhz() == 0 || clock.min_mhz() <= clock.max_mhz(), c.origin(),
              ": energy.clock.min_mhz = ", clock.min_mhz(), " is above energy.clock.max_mhz = ", clock.max_mhz(),
              ": expected min_mhz <= max_mhz");
  JOULE_CHECK(clock.clockd_socket().size() <= 107, c.origin(), ": energy.clock.clockd_socket is ",
              clock.clockd_socket().size(), " bytes long: expected at most 107 (a Unix socket path)");
}

void validate_config(const pb::Config& config, const std::string& origin, const ConfigOptions& options) {
  Checker c(origin);
  const pb::RunConfig& run = config.run();
  JOULE_CHECK(run.name().find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                      std::string::npos &&
                  run.name() != "." && run.name() != "..",
              origin, ": run.name = \"", run.name(), "\": expected letters, digits, '.', '_' or '-' only");
  JOULE_CHECK(!run.output().empty(), origin, ": run.output is empty: expected a folder for run directories");
  c.in_range("run.threads", run.threads(), 0, 1024);
  JOULE_CHECK(run.device() == "cpu", origin, ": run.device = \"", run.device(),
              "\": expected \"cpu\" (this build has no CUDA backend)");

  CpuMath cpu_math = CpuMath::eigen;
  JOULE_CHECK(run.cpu_math() == "auto" || parse_cpu_math(run.cpu_math(), &cpu_math), origin, ": run.cpu_math = \"",
              run.cpu_math(), "\": expected auto, onednn, openblas or eigen");
  if (run.cpu_math() != "auto") {
    const std::string why = cpu_math_unavailable(cpu_math);
    JOULE_CHECK(why.empty(), origin, ": run.cpu_math = \"", run.cpu_math(), "\": not available here: ", why,
                " (use auto, or one of the backends joule-train --version lists as available)");
  }

  const pb::DataConfig& data = config.data();
  if (options.check_files) {
    c.readable_file("data.train_images", data.train_images());
    c.readable_file("data.train_labels", data.train_labels());
    c.readable_file("data.test_images", data.test_images());
    c.readable_file("data.test_labels", data.test_labels());
  }
  c.positive("data.normalize_std", data.normalize_std());
  JOULE_CHECK(std::isfinite(data.normalize_mean()), origin, ": data.normalize_mean is not finite");
  c.at_least<int64_t>("data.train_limit", data.train_limit(), 0);
  c.at_least<int64_t>("data.test_limit", data.test_limit(), 0);
  c.in_range("data.num_classes", data.num_classes(), 2, 65536);

  const pb::ModelConfig& model = config.model();
  JOULE_CHECK(model.has_mlp() || model.has_cnn(), origin, ": model: expected a model section, mlp { ... } or cnn { ... }");
  if (model.has_mlp()) {
    for (int i = 0; i < model.mlp().hidden_size(); ++i)
      c.in_range("model.mlp.hidden[" + std::to_string(i) + "]", model.mlp().hidden(i), 1, 1 << 20);
    c.probability("model.mlp.dropout", model.mlp().dropout());
  } else {
    const pb::CnnConfig& cnn = model.cnn();
    JOULE_CHECK(cnn.channels_size() > 0, origin, ": model.cnn.channels: expected at least one conv block");
    for (int i = 0; i < cnn.channels_size(); ++i)
      c.in_range("model.cnn.channels[" + std::to_string(i) + "]", cnn.channels(i), 1, 65536);
    for (int i = 0; i < cnn.hidden_size(); ++i)
      c.in_range("model.cnn.hidden[" + std::to_string(i) + "]", cnn.hidden(i), 1, 1 << 20);
    JOULE_CHECK(cnn.kernel_size() % 2 == 1 && cnn.kernel_size() >= 1 && cnn.kernel_size() <= 11, origin,
                ": model.cnn.kernel_size = ", cnn.kernel_size(), ": expected an odd number 1 .. 11");
    c.probability("model.cnn.dropout", cnn.dropout());
  }

  const pb::TrainConfig& train = config.train();
  c.at_least("train.batch_size", train.batch_size(), 1);
  c.in_range("train.epochs", train.epochs(), 1, 100000);
  c.at_least<int64_t>("train.max_steps", train.max_steps(), 0);
  c.at_least<int64_t>("train.eval_every_steps", train.eval_every_steps(), 0);
  c.at_least<int64_t>("train.eval_every_samples", train.eval_every_samples(), 0);
  c.at_least("train.log_every_steps", train.log_every_steps(), 1);
  c.in_range("train.max_bad_steps", train.max_bad_steps(), 1, 1000000);
  c.at_least("train.eval_batch_size", train.eval_batch_size(), 1);
  if (train.optimizer().has_sgd()) {
    const pb::SgdConfig& sgd = train.optimizer().sgd();
    c.positive("train.optimizer.sgd.lr", sgd.lr());
    c.probability("train.optimizer.sgd.momentum", sgd.momentum());
    c.non_negative("train.optimizer.sgd.weight_decay", sgd.weight_decay());
    JOULE_CHECK(!sgd.nesterov() || sgd.momentum() > 0, origin,
                ": train.optimizer.sgd.nesterov = true needs momentum > 0 (momentum = ", sgd.momentum(), ")");
  } else {
    const pb::AdamWConfig& adamw = train.optimizer().adamw();
    c.positive("train.optimizer.adamw.lr", adamw.lr());
    c.probability("train.optimizer.adamw.beta1", adamw.beta1());
    c.probability("train.optimizer.adamw.beta2", adamw.beta2());
    c.positive("train.optimizer.adamw.eps", adamw.eps());
    c.non_negative("train.optimizer.adamw.weight_decay", adamw.weight_decay());
  }
  c.at_least<int64_t>("train.schedule.warmup_steps", train.schedule().warmup_steps(), 0);
  c.in_range("train.schedule.min_lr_ratio", train.schedule().min_lr_ratio(), 0.0f, 1.0f);
  JOULE_CHECK(train.schedule().decay_fraction() > 0 && train.schedule().decay_fraction() <= 1, origin,
              ": train.schedule.decay_fraction = ", train.schedule().decay_fraction(), ": expected 0 < value <= 1");

  c.in_range("train.micro_batches", train.micro_batches(), 1, 256);
  Precision precision = Precision::f32;
  JOULE_CHECK(parse_precision(train.precision(), &precision), origin, ": train.precision = \"", train.precision(),
              "\": expected f32 or bf16");
  // the reducer's own limit (distributed/gradient_reducer.cpp), checked here so --check agrees with the run
  c.in_range<double>("distributed.bucket_mb", config.distributed().bucket_mb(), 1e-6, 1e9);
  c.in_range<double>("distributed.first_bucket_mb", config.distributed().first_bucket_mb(), 1e-6, 1e9);
  c.positive("distributed.stall_timeout_s", config.distributed().stall_timeout_s());
  c.positive("energy.window_s", config.energy().window_s());
  // finite and physical: beyond these the estimate's joules overflow JSON numbers to "Infinity"
  c.in_range<double>("energy.estimate_watts_per_core", config.energy().estimate_watts_per_core(), 0.0, 1e4);
  c.in_range<double>("energy.estimate_static_watts", config.energy().estimate_static_watts(), 0.0, 1e6);
  validate_clock_knob(c, config.energy().clock());
  validate_controller(c, config);
  c.in_range<int64_t>("checkpoint.every_steps", config.checkpoint().every_steps(), 0, 1000000000);
  c.in_range<double>("checkpoint.every_seconds", config.checkpoint().every_seconds(), 0.0, 1e7);
  c.in_range("checkpoint.keep", config.checkpoint().keep(), 1, 1000);
  const std::string& scaling = train.lr_scaling();
  JOULE_CHECK(scaling == "none" || scaling == "sqrt" || scaling == "linear" || scaling == "adascale", origin,
              ": train.lr_scaling = \"", scaling, "\": expected none, sqrt, linear or adascale");
  const pb::BatchKnobConfig& bounds = config.energy().batch();
  c.at_least("energy.batch.min", bounds.min(), 0);
  c.at_least("energy.batch.max", bounds.max(), 0);
  JOULE_CHECK(bounds.max() == 0 || bounds.min() <= bounds.max(), origin, ": energy.batch.min = ", bounds.min(),
              " is above energy.batch.max = ", bounds.max());
  int64_t previous_step = -1;
  for (int i = 0; i < config.energy().schedule_size(); ++i) {
    const pb::KnobChange& change = config.energy().schedule(i);
    const std::string field = "energy.schedule[" + std::to_string(i) + "]";
    JOULE_CHECK(change.has_at_step(), origin, ": ", field, ".at_step is missing: expected the step after which it applies");
    JOULE_CHECK(change.at_step() > previous_step, origin, ": ", field, ".at_step = ", change.at_step(),
                ": expected ≥ 0 and after the previous entry's ", previous_step);
    previous_step = change.at_step();
    if (change.has_batch_size()) c.at_least(field + ".batch_size", change.batch_size(), 1);
    if (change.has_micro_batches()) c.in_range(field + ".micro_batches", change.micro_batches(), 1, 256);
    JOULE_CHECK(!change.has_precision() || parse_precision(change.precision(), &precision), origin, ": ", field,
                ".precision = \"", change.precision(), "\": expected f32 or bf16");
    if (change.has_sm_clock_mhz()) c.in_range(field + ".sm_clock_mhz", change.sm_clock_mhz(), 0, 100000);
  }
}

pb::Config load_config(const std::string& path, const std::vector<std::string>& overrides, const ConfigOptions& options) {
  // a config is a few KB: 4 MiB bounds a wrong file (say /dev/zero) before it fills memory
  pb::Config config = parse_config_text(read_text_file(path, "config file", size_t{4} << 20, /*allow_stream=*/true), path);
  for (const std::string& assignment : overrides) apply_config_override(config, assignment);
  fill_config_defaults(config);
  validate_config(config, path, options);
  return config;
}

std::string config_to_text(const pb::Config& config) {
  std::string text;
  gp::TextFormat::Printer printer;
  JOULE_ASSERT(printer.PrintToString(config, &text), "printing the config failed");
  return text;
}

}  // namespace joule
