#include "core/file_util.h"

#include <zlib.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
      struct pollfd p {
        d.fd, POLLIN, 0
      };
      const int ready = ::poll(&p, 1, static_cast<int>(stream_timeout_s * 1000));
      JOULE_CHECK(ready != 0, what, " \"", path, "\": no data for ", stream_timeout_s, " s (a FIFO without a writer?)");
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

namespace {

// Renames temp onto path; on failure removes temp (nothing half-made stays) and throws (io).
void rename_or_remove(const std::string& temp, const std::string& path) {
  if (std::rename(temp.c_str(), path.c_str()) == 0) return;
  const int rename_errno = errno;
  std::remove(temp.c_str());
  errno = rename_errno;
  JOULE_CHECK_IO(false, "cannot rename \"", temp, "\" to \"", path, "\": ", describe_errno());
}

}  // namespace

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
  rename_or_remove(temp, path);
}

uint32_t crc32_of(const void* data, size_t bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(bytes, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    bytes -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

void fsync_directory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  JOULE_CHECK_IO(fd >= 0, "cannot open folder \"", path, "\" to sync it: ", describe_errno());
  const bool ok = ::fsync(fd) == 0;
  const int sync_errno = errno;
  ::close(fd);
  errno = sync_errno;
  JOULE_CHECK_IO(ok, "cannot sync folder \"", path, "\": ", describe_errno());
}

uint32_t write_file_durable(const std::string& path, const void* data, size_t bytes) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  JOULE_CHECK_IO(fd >= 0, "cannot write \"", temp, "\": ", describe_errno());
  const auto* p = static_cast<const char*>(data);
  size_t left = bytes;
  bool ok = true;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, std::min<size_t>(left, size_t{1} << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      ok = false;
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int write_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (!ok || !closed) {
    std::remove(temp.c_str());  // a full disk leaves nothing behind
    errno = ok ? errno : write_errno;
    JOULE_CHECK_IO(false, "writing \"", temp, "\" failed: ", describe_errno());
  }
  rename_or_remove(temp, path);
  const size_t slash = path.rfind('/');
  fsync_directory(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
  return crc32_of(data, bytes);
}

void LineWriter::open(const std::string& path) {
  JOULE_ASSERT(fd_ < 0, "LineWriter opened twice");
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  JOULE_CHECK_IO(fd_ >= 0, "cannot open \"", path, "\" for appending: ", describe_errno());
  struct stat st {};
  JOULE_CHECK_IO(::fstat(fd_, &st) == 0, "cannot stat \"", path, "\": ", describe_errno());
  size_ = static_cast<uint64_t>(st.st_size);
  cut_torn_line();
}

// A process killed inside write(2) can leave a line without its newline at the end of the file
// (a run resumed in the same directory appends to it): cut the file back to its last whole line.
void LineWriter::cut_torn_line() {
  if (size_ == 0) return;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  uint64_t end = size_;
  char buffer[4096];
  while (end > 0) {
    const uint64_t begin = end > sizeof buffer ? end - sizeof buffer : 0;
    const ssize_t n = ::pread(fd, buffer, static_cast<size_t>(end - begin), static_cast<off_t>(begin));
    if (n != static_cast<ssize_t>(end - begin)) {  // unreadable: leave the file as it is
      end = size_;
      break;
    }
    const auto* last = static_cast<const char*>(::memrchr(buffer, '\n', static_cast<size_t>(n)));
    if (last != nullptr) {
      end = begin + static_cast<uint64_t>(last - buffer) + 1;
      break;
    }
    end = begin;
  }
  ::close(fd);
  if (end != size_ && ::ftruncate(fd_, static_cast<off_t>(end)) == 0) size_ = end;
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
