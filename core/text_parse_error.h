// FirstParseError: collects the first error protobuf's text-format parser reports, as
// "LINE:COLUMN: message", with the offending source line when the text is given (protobuf's
// messages say what was expected, not always in which field). Used by every reader of a .pbtxt
// (run configs, --set values, simulator scenarios and GPU calibrations).
#pragma once

#include <google/protobuf/io/tokenizer.h>

#include <string>

namespace joule {

class FirstParseError : public google::protobuf::io::ErrorCollector {
 public:
  explicit FirstParseError(const std::string& text = "") : text_(text) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override;
  const std::string& first() const { return first_; }

 private:
  std::string text_;
  std::string first_;
};

}  // namespace joule
