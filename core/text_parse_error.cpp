#include "core/text_parse_error.h"

#include <sstream>

namespace joule {

void FirstParseError::AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) {
  if (!first_.empty()) return;
  first_ = std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  std::stringstream lines(text_);
  std::string source;
  for (int i = 0; i <= line && std::getline(lines, source); ++i) {
  }
  const size_t begin = source.find_first_not_of(" \t");
  if (line >= 0 && begin != std::string::npos) first_ += " (in: " + source.substr(begin) + ")";
}

}  // namespace joule
