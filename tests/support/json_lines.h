// JSON-lines files of protobuf records (metrics.jsonl, rank-RRRRR.jsonl) read back in tests.
#pragma once

#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <string>
#include <vector>

namespace joule::testing {

// Every line of `path` whose "kind" is `kind` (null: every line) as a Record; a line that does not
// parse is a test failure.
template <typename Record>
std::vector<Record> read_records(const std::string& path, const char* kind) {
  std::vector<Record> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (kind != nullptr && line.find(std::string("\"kind\":\"") + kind + "\"") == std::string::npos) continue;
    Record record;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &record).ok()) << line;
    records.push_back(record);
  }
  return records;
}

}  // namespace joule::testing
