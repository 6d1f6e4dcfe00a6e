// Small file helpers: whole-file reads with clear errors, atomic writes (temp file + rename, so a
// crash never leaves a half-written file), line-flushed appends for JSON-lines logs.
#pragma once

#include <cstdio>
#include <string>

namespace joule {

std::string describe_errno();  // strerror(errno)

// Reads a whole file; `what` names it in errors ("config file").
std::string read_text_file(const std::string& path, const std::string& what);

// Writes `content` to path.tmp, flushes, renames onto `path`.
void write_file_atomic(const std::string& path, const std::string& content);

// Appends whole lines and flushes each, so a killed process leaves only complete lines.
class LineWriter {
 public:
  LineWriter() = default;
  explicit LineWriter(const std::string& path) { open(path); }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;
  ~LineWriter();

  void open(const std::string& path);  // for appending; once
  bool is_open() const { return file_ != nullptr; }
  void write_line(const std::string& line);  // `line` without the trailing newline

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace joule
