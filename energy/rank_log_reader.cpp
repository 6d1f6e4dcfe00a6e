#include "energy/rank_log_reader.h"

#include <google/protobuf/util/json_util.h>

namespace joule::energy {

bool parse_json_line(const std::string& line, google::protobuf::Message* record) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(line, record, options).ok();
}

RankLog read_rank_log(const std::string& path, uint32_t* skipped, uint32_t* corrupt, size_t max_bytes) {
  RankLog log;
  for_each_json_line(
      path, "rank log", skipped, corrupt,
      [&](const std::string& line) {
        pb::RestartRecord kind;  // window records have no kind
        if (!parse_json_line(line, &kind)) return false;
        if (kind.kind() == "restart") {
          ++log.restarts;
          return true;
        }
        pb::RankWindowRecord window;
        if (!kind.kind().empty() || !parse_json_line(line, &window)) return false;
        log.windows.push_back(std::move(window));
        return true;
      },
      max_bytes);
  return log;
}

}  // namespace joule::energy
