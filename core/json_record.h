// Records as JSON: protobuf JSON printing with preserved snake_case field names and every field
// printed (also zeros), one object per line for .jsonl files (DESIGN.md §1).
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace joule {

std::string to_json_line(const google::protobuf::Message& record);  // no newline
std::string to_json_pretty(const google::protobuf::Message& record);  // indented, for summary.json

}  // namespace joule
