#include "core/file_util.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace joule {

std::string describe_errno() { return std::strerror(errno); }

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code ignored;
  JOULE_CHECK(!std::filesystem::is_directory(path, ignored), what, " \"", path, "\": is a directory");
  std::ifstream in(path, std::ios::binary);
  JOULE_CHECK(in.good(), what, " \"", path, "\": cannot open for reading (", describe_errno(), ")");
  std::ostringstream content;
  content << in.rdbuf();
  JOULE_CHECK(!in.bad(), what, " \"", path, "\": read error");
  return content.str();
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string temp = path + ".tmp";
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  JOULE_CHECK(f != nullptr, "cannot write \"", temp, "\": ", describe_errno());
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size() && std::fflush(f) == 0;
  std::fclose(f);
  JOULE_CHECK(ok, "writing \"", temp, "\" failed: ", describe_errno());
  JOULE_CHECK(std::rename(temp.c_str(), path.c_str()) == 0, "cannot rename \"", temp, "\" to \"", path,
              "\": ", describe_errno());
}

void LineWriter::open(const std::string& path) {
  JOULE_ASSERT(file_ == nullptr, "LineWriter opened twice");
  path_ = path;
  file_ = std::fopen(path.c_str(), "ab");
  JOULE_CHECK(file_ != nullptr, "cannot open \"", path, "\" for appending: ", describe_errno());
}

LineWriter::~LineWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void LineWriter::write_line(const std::string& line) {
  JOULE_ASSERT(file_ != nullptr, "write_line on a closed writer");
  const std::string with_newline = line + "\n";
  // one fwrite per line + fflush: the kernel sees whole lines only
  JOULE_CHECK(std::fwrite(with_newline.data(), 1, with_newline.size(), file_) == with_newline.size() &&
                  std::fflush(file_) == 0,
              "writing \"", path_, "\" failed: ", describe_errno());
}

}  // namespace joule
