// TensorBoardWriter: CRC32C against published check values, the TFRecord framing parsed back here
// (lengths, masked CRCs, Event protobufs, the file name), and a read-back by TensorBoard's own
// reader (python3 + the tensorboard package; skipped with a message where it is not installed —
// scripts/test.sh installs it best effort, possibly into <build>/python).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "core/proto/tensorboard.pb.h"
#include "energy/tensorboard_writer.h"
#include "tests/support/command.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"

namespace joule::energy {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

uint64_t load_le(const std::string& bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[at + static_cast<size_t>(i)]);
  return value;
}

// Splits a TFRecord file into payloads, checking both masked CRCs of every record.
std::vector<std::string> parse_records(const std::string& bytes) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_LE(at + 12, bytes.size()) << "truncated header at byte " << at;
    if (at + 12 > bytes.size()) break;
    const uint64_t length = load_le(bytes, at, 8);
    EXPECT_EQ(load_le(bytes, at + 8, 4), mask_crc32c(crc32c(std::string_view(bytes).substr(at, 8))))
        << "length CRC at byte " << at;
    EXPECT_LE(at + 12 + length + 4, bytes.size()) << "truncated record at byte " << at;
    if (at + 12 + length + 4 > bytes.size()) break;
    const std::string data = bytes.substr(at + 12, length);
    EXPECT_EQ(load_le(bytes, at + 12 + length, 4), mask_crc32c(crc32c(data))) << "data CRC at byte " << at;
    records.push_back(data);
    at += 12 + length + 4;
  }
  return records;
}

std::vector<fs::path> event_files(const std::string& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) files.push_back(entry.path());
  return files;
}

// python3 with <build>/python (where scripts/test.sh may install tensorboard) on its path.
std::string python_command(const std::string& code) {
  return "PYTHONPATH=" + joule::testing::shell_quote(std::string(JOULE_BINARY_DIR) + "/python") +
         "${PYTHONPATH:+:$PYTHONPATH} python3 -c " + joule::testing::shell_quote(code);
}

}  // namespace

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);    // RFC 3720 B.4: 32 bytes of zeros
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720 B.4: 32 bytes of 0xff
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);  // RFC 3720 B.4: 0x00..0x1f
  EXPECT_EQ(crc32c("56789", crc32c("1234")), 0xE3069283u);  // continuation
}

TEST(Crc32c, MaskAndFraming) {
  EXPECT_EQ(mask_crc32c(0), 0xa282ead8u);
  EXPECT_EQ(mask_crc32c(0x00008000u), 0xa282ead8u + 1u);  // bit 15 rotates to bit 0
  EXPECT_EQ(mask_crc32c(1), 0xa282ead8u + (1u << 17));
  EXPECT_EQ(mask_crc32c(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u);
  const std::string frame = tfrecord_frame("hello");
  ASSERT_EQ(frame.size(), 8u + 4u + 5u + 4u);
  EXPECT_EQ(load_le(frame, 0, 8), 5u);
  EXPECT_EQ(frame.substr(12, 5), "hello");
  EXPECT_EQ(parse_records(frame + tfrecord_frame("") + tfrecord_frame("x")),
            (std::vector<std::string>{"hello", "", "x"}));
}

TEST(TensorBoardWriter, RecordsParseBack) {
  TempDir dir;
  std::string path;
  {
    TensorBoardWriter writer(dir.file("tb"), "joule");
    path = writer.path();
    writer.scalar("loss", 2.25, 1, 1700000000.5);
    writer.scalar("energy_j/rank_0", 1234.5, 1, 1700000000.5);
    writer.flush();
    EXPECT_EQ(parse_records(joule::testing::read_file(path)).size(), 3u);  // flushed: readable now
    writer.scalar("loss", 1.5, 2, 1700000001.0);
  }  // the destructor flushes the last one
  const std::vector<fs::path> files = event_files(dir.file("tb"));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].string(), path);
  // events.out.tfevents.<10-digit seconds>.<host>.<pid>.joule
  const std::string name = files[0].filename().string();
  const std::string prefix = "events.out.tfevents.";
  ASSERT_GT(name.size(), prefix.size() + 11);
  EXPECT_TRUE(std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()),
                          name.begin() + static_cast<std::ptrdiff_t>(prefix.size() + 10),
                          [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }))
      << name;
  EXPECT_EQ(name.substr(name.size() - (std::to_string(getpid()).size() + 7)), "." + std::to_string(getpid()) + ".joule");

  const std::vector<std::string> records = parse_records(joule::testing::read_file(path));
  ASSERT_EQ(records.size(), 4u);
  tb::Event first;
  ASSERT_TRUE(first.ParseFromString(records[0]));
  EXPECT_EQ(first.file_version(), "brain.Event:2");
  EXPECT_GT(first.wall_time(), 1.6e9);
  const struct {
    const char* tag;
    float value;
    int64_t step;
    double wall_time;
  } expected[] = {{"loss", 2.25f, 1, 1700000000.5}, {"energy_j/rank_0", 1234.5f, 1, 1700000000.5},
                  {"loss", 1.5f, 2, 1700000001.0}};
  for (size_t i = 0; i < 3; ++i) {
    tb::Event event;
    ASSERT_TRUE(event.ParseFromString(records[i + 1]));
    ASSERT_TRUE(event.has_summary());
    ASSERT_EQ(event.summary().value_size(), 1);
    EXPECT_EQ(event.summary().value(0).tag(), expected[i].tag);
    EXPECT_EQ(event.summary().value(0).simple_value(), expected[i].value);
    EXPECT_EQ(event.step(), expected[i].step);
    EXPECT_EQ(event.wall_time(), expected[i].wall_time);
  }
}

TEST(TensorBoardWriter, TwoWritersInOneDirectoryGetTwoFiles) {
  TempDir dir;
  TensorBoardWriter a(dir.path(), "rank-0");
  TensorBoardWriter b(dir.path(), "rank-1");
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(event_files(dir.path()).size(), 2u);
}

// Its directory lives in the run directory, which exists by then: a failure is an I/O error (status 1).
TEST(TensorBoardWriter, UncreatableDirectoryIsAnIoError) {
  TempDir dir;
  std::ofstream(dir.file("taken")) << "a file where the directory should be";
  joule::testing::expect_io_error([&] { TensorBoardWriter writer(dir.file("taken") + "/tb", "joule"); },
                                  {"cannot create the TensorBoard directory", "taken"});
}

TEST(TensorBoardWriter, ReadBackByTensorBoard) {
  const joule::testing::CommandResult probe = joule::testing::run_command(python_command("import tensorboard"));
  if (probe.status != 0)
    GTEST_SKIP() << "TensorBoard's reader is not available (python3 -c 'import tensorboard' failed; "
                    "scripts/test.sh installs it with pip when it can): "
                 << probe.output.substr(0, 300);
  TempDir dir;
  {
    TensorBoardWriter writer(dir.path(), "joule");
    for (int64_t step = 1; step <= 50; ++step) {
      writer.scalar("loss", 2.0 / static_cast<double>(step), step, 1700000000.0 + static_cast<double>(step));
      writer.scalar("energy_j/rank_1", 10.0 * static_cast<double>(step), step, 1700000000.0 + static_cast<double>(step));
      if (step % 10 == 0) writer.flush();
    }
  }
  // TensorBoard checks both CRCs of every record; a bad one ends its reading there, so every value
  // of both series must come back
  const std::string code = R"(
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print("FILE_VERSION", acc.file_version)
for tag in sorted(acc.Tags()["scalars"]):
    for e in acc.Scalars(tag):
        print("SCALAR", tag, e.step, repr(e.value), repr(e.wall_time))
)";
  const joule::testing::CommandResult result =
      joule::testing::run_command(python_command(code) + " " + joule::testing::shell_quote(dir.path()));
  ASSERT_EQ(result.status, 0) << result.output;
  std::map<std::string, std::vector<std::tuple<int64_t, double, double>>> scalars;
  std::string file_version;
  std::istringstream lines(result.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::string kind, tag;
    in >> kind;
    if (kind == "FILE_VERSION") in >> file_version;
    if (kind != "SCALAR") continue;
    int64_t step;
    double value, wall_time;
    in >> tag >> step >> value >> wall_time;
    scalars[tag].emplace_back(step, value, wall_time);
  }
  EXPECT_EQ(file_version, "2.0") << result.output;  // TensorBoard parses "brain.Event:2" to 2.0
  ASSERT_EQ(scalars.size(), 2u) << result.output;
  ASSERT_EQ(scalars["loss"].size(), 50u) << result.output;
  ASSERT_EQ(scalars["energy_j/rank_1"].size(), 50u) << result.output;
  for (int64_t step = 1; step <= 50; ++step) {
    const auto& [loss_step, loss, loss_time] = scalars["loss"][static_cast<size_t>(step - 1)];
    EXPECT_EQ(loss_step, step);
    EXPECT_EQ(loss, static_cast<double>(static_cast<float>(2.0 / static_cast<double>(step))));  // float on the wire
    EXPECT_EQ(loss_time, 1700000000.0 + static_cast<double>(step));
    const auto& [energy_step, energy, energy_time] = scalars["energy_j/rank_1"][static_cast<size_t>(step - 1)];
    EXPECT_EQ(energy_step, step);
    EXPECT_EQ(energy, 10.0 * static_cast<double>(step));
  }
}

}  // namespace joule::energy
