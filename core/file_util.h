// Small file helpers: whole-file reads with clear errors, atomic writes (temp file + rename, so a
// crash never leaves a half-written file), line-flushed appends for JSON-lines logs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace joule {

std::string describe_errno();  // strerror(errno)

// Reads a whole file of at most `max_bytes`; `what` names it in errors ("config file"). A regular
// file larger than the limit is refused before anything is read; a FIFO or pipe (`--config <(...)`)
// only when `allow_stream`, read until its writer closes, within the limit, with no more than
// `stream_timeout_s` between chunks; devices, sockets and directories are refused. Never blocks on
// open: a FIFO without a writer cannot hang the caller.
constexpr size_t kDefaultReadLimit = size_t{64} << 20;
std::string read_text_file(const std::string& path, const std::string& what, size_t max_bytes = kDefaultReadLimit,
                           bool allow_stream = false, double stream_timeout_s = 10);

// Opens `path` for reading without blocking (O_NONBLOCK, then cleared) and checks it is a regular file;
// returns the descriptor (the caller closes it) and its size. JOULE_CHECK names `what` and the path.
int open_regular_file(const std::string& path, const std::string& what, uint64_t* size);

// Writes `content` to path.tmp, flushes, renames onto `path`; on failure removes path.tmp (io error).
void write_file_atomic(const std::string& path, const std::string& content);

// As write_file_atomic, and durable: the temp file is fsynced before the rename and the folder
// after it, so after a crash or power loss `path` holds either nothing or all of `content`.
// Returns zlib's CRC-32 of `content`.
uint32_t write_file_durable(const std::string& path, const void* data, size_t bytes);
inline uint32_t write_file_durable(const std::string& path, const std::string& content) {
  return write_file_durable(path, content.data(), content.size());
}
void fsync_directory(const std::string& path);      // io error when it cannot be synced
uint32_t crc32_of(const void* data, size_t bytes);  // zlib's CRC-32

// Appends whole lines, one write(2) each, so a killed process leaves only complete lines; a write
// that fails part way (a full disk) is cut back to the last whole line before the error (io kind).
class LineWriter {
 public:
  LineWriter() = default;
  explicit LineWriter(const std::string& path) { open(path); }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;
  ~LineWriter();

  // For appending; once. A last line without its newline (a writer killed inside write(2)) is cut.
  void open(const std::string& path);
  bool is_open() const { return fd_ >= 0; }
  void write_line(const std::string& line);  // `line` without the trailing newline

 private:
  void cut_torn_line();
  int fd_ = -1;
  uint64_t size_ = 0;  // bytes of whole lines in the file
  std::string path_;
};

}  // namespace joule
