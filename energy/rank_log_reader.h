// Reading JSON-lines logs back: the rank logs (window and restart records) for joule-report and for
// a resumed run's accounting, and any other JSON-lines file line by line.
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/proto/records.pb.h"

namespace joule::energy {

// `line` as `record`; unknown fields are ignored (logs of newer or older versions still read).
bool parse_json_line(const std::string& line, google::protobuf::Message* record);

// Calls parse(line) on each complete line of a JSON-lines log; `skipped` counts an unterminated last
// line (a torn write of a killed process) and lines parse rejects, `corrupt` the latter alone.
// Blank lines are ignored.
template <class Parse>
void for_each_json_line(const std::string& path, const std::string& what, uint32_t* skipped, uint32_t* corrupt,
                        Parse parse, size_t max_bytes = kDefaultReadLimit) {
  const std::string content = read_text_file(path, what, max_bytes);
  size_t begin = 0;
  while (begin < content.size()) {
    const size_t end = content.find('\n', begin);
    if (end == std::string::npos) {  // no newline: the write was cut short
      ++*skipped;
      break;
    }
    const std::string line = content.substr(begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!parse(line)) {
      ++*skipped;
      ++*corrupt;
    }
  }
}

struct RankLog {
  std::vector<pb::RankWindowRecord> windows;
  uint32_t restarts = 0;  // restart records (a resumed run)
};
// A rank log's records (rank-RRRRR.jsonl); skipped/corrupt as in for_each_json_line.
RankLog read_rank_log(const std::string& path, uint32_t* skipped, uint32_t* corrupt,
                      size_t max_bytes = kDefaultReadLimit);

}  // namespace joule::energy
