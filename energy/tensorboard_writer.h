// TensorBoardWriter: scalars for TensorBoard in the run directory, one file
//   <dir>/events.out.tfevents.<unix seconds, 10 digits>.<host>.<pid>.<suffix>
// holding TFRecord-framed Event protobufs (core/proto/tensorboard.proto, TensorFlow's field
// numbers). Each record is
//   uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | data | uint32 masked CRC32C of data
// with mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8. The first record is the Event
// {file_version: "brain.Event:2"}. Records are buffered by scalar() and written by flush() with one
// write(2) per flush, so a killed process leaves whole records only (TensorBoard's reader also
// waits on a torn last record rather than failing). No fsync: that guards against power loss, not
// a killed run, and costs milliseconds per window.
//
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) is computed here with a byte-wise table:
// zlib only offers CRC-32 (IEEE 0xEDB88320), which TFRecord does not use; a few KB per window
// need no SSE4.2 instruction path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace joule::energy {

// CRC32C of `data`, continuing from `crc` (0 to start): crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);
// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8, modulo 2^32.
uint32_t mask_crc32c(uint32_t crc);
// One TFRecord: length, masked CRC of the length, `data`, masked CRC of `data`.
std::string tfrecord_frame(std::string_view data);

class TensorBoardWriter {
 public:
  // Creates `dir` when missing and a new event file in it (never an existing one: same second, host,
  // pid and suffix fails); `suffix` tells the writers of one directory apart (e.g. "joule"),
  // empty: none. Writes and flushes the file_version record.
  TensorBoardWriter(const std::string& dir, const std::string& suffix);
  ~TensorBoardWriter();  // flushes; warns (never throws) when that fails
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // Queues one scalar: `tag` ("loss", "power_w/rank_1"), `value` (stored as float, TensorBoard's
  // simple_value), `step` (x axis), `wall_time` (seconds since the Unix epoch).
  void scalar(const std::string& tag, double value, int64_t step, double wall_time);
  // Writes every queued record. Call it at window ends; scalar() also flushes past 64 KiB.
  void flush();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string pending_;  // framed records not yet written
};

}  // namespace joule::energy
