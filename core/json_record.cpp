#include "core/json_record.h"

#include <google/protobuf/util/json_util.h>

#include "core/error.h"

namespace joule {
namespace {
std::string print(const google::protobuf::Message& record, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(record, &out, options);
  JOULE_ASSERT(status.ok(), "JSON printing of ", record.GetTypeName(), " failed: ", status.ToString());
  return out;
}
}  // namespace

std::string to_json_line(const google::protobuf::Message& record) { return print(record, false); }
std::string to_json_pretty(const google::protobuf::Message& record) { return print(record, true); }

}  // namespace joule
