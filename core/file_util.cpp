#include "core/file_util.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/error.h"

namespace joule {

std::string describe_errno() { return std::strerror(errno); }

namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO or pipe";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string mebibytes(size_t bytes) {
  return bytes % (size_t{1} << 20) == 0 ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes) + " bytes";
}

struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

int open_regular_file(const std::string& path, const std::string& what, uint64_t* size) {
  Descriptor d;
  d.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  JOULE_CHECK(d.fd >= 0, what, " \"", path, "\": cannot open for reading (", describe_errno(), ")");
  struct stat st {};
  JOULE_CHECK(::fstat(d.fd, &st) == 0, what, " \"", path, "\": cannot stat (", describe_errno(), ")");
  JOULE_CHECK(S_ISREG(st.st_mode), what, " \"", path, "\": is ", file_kind(st.st_mode), ": expected a regular file");
  ::fcntl(d.fd, F_SETFL, ::fcntl(d.fd, F_GETFL) & ~O_NONBLOCK);
  *size = static_cast<uint64_t>(st.st_size);
  return std::exchange(d.fd, -1);
}

std::string read_text_file(const std::string& path, const std::string& what, size_t max_bytes, bool allow_stream,
                           double stream_timeout_s) {
  Descriptor d;
  d.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  JOULE_CHECK(d.fd >= 0, what, " \"", path, "\": cannot open for reading (", describe_errno(), ")");
  struct stat st {};
  JOULE_CHECK(::fstat(d.fd, &st) == 0, what, " \"", path, "\": cannot stat (", describe_errno(), ")");
  const bool stream = S_ISFIFO(st.st_mode);
  JOULE_CHECK(S_ISREG(st.st_mode) || (stream && allow_stream), what, " \"", path, "\": is ", file_kind(st.st_mode),
              ": expected a regular file");
  if (!stream) {
    JOULE_CHECK(static_cast<uint64_t>(st.st_size) <= max_bytes, what, " \"", path, "\": is ", st.st_size,
                " bytes: expected at most ", mebibytes(max_bytes));
    ::fcntl(d.fd, F_SETFL, ::fcntl(d.fd, F_GETFL) & ~O_NONBLOCK);
  }
  std::string content;
  char chunk[1 << 16];
  for (;;) {
    if (stream) {
      struct pollfd p {d.fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(stream_timeout_s * 1000));
      JOULE_CHECK(ready != 0, what, " \"", path, "\": no data for ", stream_timeout_s,
                  " s (a FIFO without a writer?)");
      JOULE_CHECK(ready > 0 || errno == EINTR, what, " \"", path, "\": ", describe_errno());
      if (ready < 0) continue;
    }
    const ssize_t got = ::read(d.fd, chunk, sizeof chunk);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    JOULE_CHECK(got >= 0, what, " \"", path, "\": read error (", describe_errno(), ")");
    if (got == 0) break;
    content.append(chunk, static_cast<size_t>(got));
    JOULE_CHECK(content.size() <= max_bytes, what, " \"", path, "\": longer than ", mebibytes(max_bytes),
                " (expected at most that)");
  }
  JOULE_CHECK(!stream || !content.empty(), what, " \"", path, "\": the FIFO or pipe gave no data");
  return content;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string temp = path + ".tmp";
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  JOULE_CHECK_IO(f != nullptr, "cannot write \"", temp, "\": ", describe_errno());
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size() && std::fflush(f) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(temp.c_str());  // a failed write (a full disk) leaves nothing behind
    errno = write_errno;
    JOULE_CHECK_IO(false, "writing \"", temp, "\" failed: ", describe_errno());
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temp.c_str());
    errno = rename_errno;
    JOULE_CHECK_IO(false, "cannot rename \"", temp, "\" to \"", path, "\": ", describe_errno());
  }
}

void LineWriter::open(const std::string& path) {
  JOULE_ASSERT(fd_ < 0, "LineWriter opened twice");
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  JOULE_CHECK_IO(fd_ >= 0, "cannot open \"", path, "\" for appending: ", describe_errno());
  struct stat st {};
  JOULE_CHECK_IO(::fstat(fd_, &st) == 0, "cannot stat \"", path, "\": ", describe_errno());
  size_ = static_cast<uint64_t>(st.st_size);
}

LineWriter::~LineWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void LineWriter::write_line(const std::string& line) {
  JOULE_ASSERT(fd_ >= 0, "write_line on a closed writer");
  const std::string with_newline = line + "\n";
  ssize_t written;
  do {
    written = ::write(fd_, with_newline.data(), with_newline.size());
  } while (written < 0 && errno == EINTR);
  if (written == static_cast<ssize_t>(with_newline.size())) {
    size_ += with_newline.size();
    return;
  }
  const int write_errno = written < 0 ? errno : ENOSPC;  // a short write: the disk filled up
  if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    // cannot cut back: the torn line stays, and the error says so
  }
  errno = write_errno;
  JOULE_CHECK_IO(false, "writing \"", path_, "\" failed: ", describe_errno());
}

}  // namespace joule
