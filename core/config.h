// Run configuration: parse a .pbtxt file (schema core/proto/config.proto), apply `--set a.b.c=v`
// overrides, fill every unset field with its documented default (so the resolved config written to
// the run directory is complete), and validate ranges. Every failure is a JOULE_CHECK (exit 2) whose
// message names the file or field and what was expected.
#pragma once

#include <string>
#include <vector>

#include "core/proto/config.pb.h"

namespace joule {

struct ConfigOptions {
  bool check_files = true;  // data files must exist and be readable
};

// Reads `path`, applies `overrides` in order, fills defaults and validates.
pb::Config load_config(const std::string& path, const std::vector<std::string>& overrides,
                       const ConfigOptions& options = {});

// Parses text format; `origin` names the source in error messages.
pb::Config parse_config_text(const std::string& text, const std::string& origin);

// "train.batch_size=256": sets one scalar or enum field; message fields on the path are created.
void apply_config_override(pb::Config& config, const std::string& assignment);
// The same for any message (a simulator scenario, ...); `what` names it in errors ("the scenario
// has no field ...", "edit the scenario file instead").
void apply_text_override(google::protobuf::Message& root, const std::string& assignment, const std::string& what);

// Sets every unset scalar field to its default, creates unset sections, and chooses the default
// member of oneofs that have one (optimizer: sgd). Leaves the model oneof to validation.
void fill_config_defaults(pb::Config& config);

// Range and consistency checks; `origin` prefixes messages (the config file).
void validate_config(const pb::Config& config, const std::string& origin, const ConfigOptions& options = {});

std::string config_to_text(const pb::Config& config);

// Whether energy.controller has anything to do: a knob on ADAPT or a stop rule set (every part is
// off by default, and fill_config_defaults creates the section, so presence says nothing).
bool controller_active(const pb::ControllerConfig& controller);

}  // namespace joule
