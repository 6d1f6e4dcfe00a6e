#include "energy/tensorboard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/clock.h"
#include "core/error.h"
#include "core/proto/tensorboard.pb.h"

namespace joule::energy {
namespace {

constexpr size_t kFlushBytes = 64 * 1024;

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
    table[i] = crc;
  }
  return table;
}

void append_le(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
}

std::string serialize(const tb::Event& event) {
  std::string bytes;
  JOULE_ASSERT(event.SerializeToString(&bytes), "cannot serialize a TensorBoard event");
  return bytes;
}

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  static constexpr std::array<uint32_t, 256> table = make_crc32c_table();
  crc = ~crc;
  for (const char c : data) crc = table[(crc ^ static_cast<uint8_t>(c)) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

uint32_t mask_crc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::string tfrecord_frame(std::string_view data) {
  std::string record;
  record.reserve(data.size() + 16);
  append_le(&record, data.size(), 8);
  append_le(&record, mask_crc32c(crc32c(record)), 4);
  record.append(data);
  append_le(&record, mask_crc32c(crc32c(data)), 4);
  return record;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir, const std::string& suffix) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  // in the run directory, which exists by now: a failure is output that cannot be written (status 1)
  JOULE_CHECK_IO(!ec, "cannot create the TensorBoard directory \"", dir, "\": ", ec.message());
  const double now = unix_seconds();
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "%010lld", static_cast<long long>(std::floor(now)));
  path_ = (std::filesystem::path(dir) / ("events.out.tfevents." + std::string(stamp) + "." + host_name() + "." +
                                         std::to_string(getpid()) + (suffix.empty() ? "" : "." + suffix)))
              .string();
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  JOULE_CHECK_IO(fd_ >= 0, "cannot create the TensorBoard event file \"", path_, "\": ", std::strerror(errno));
  tb::Event event;
  event.set_wall_time(now);
  event.set_file_version("brain.Event:2");
  pending_ = tfrecord_frame(serialize(event));
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    flush();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: TensorBoard events lost: %s\n", e.what());
  }
  if (fd_ >= 0) ::close(fd_);
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step, double wall_time) {
  tb::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  tb::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  pending_ += tfrecord_frame(serialize(event));
  if (pending_.size() >= kFlushBytes) flush();
}

void TensorBoardWriter::flush() {
  const std::string bytes = std::move(pending_);  // a failed write is not retried: the file would tear
  pending_.clear();
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    JOULE_CHECK_IO(n >= 0, "writing the TensorBoard event file \"", path_, "\" failed: ", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace joule::energy
