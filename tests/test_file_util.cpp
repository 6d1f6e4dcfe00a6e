// File helpers: whole-file reads with errors naming the file, atomic replacement without leftover
// temp files, and line-flushed appends that survive reopening.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/file_util.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::TempDir;

}  // namespace

TEST(FileUtil, ReadTextFileReturnsExactBytes) {
  TempDir dir;
  const std::string content = std::string("line one\nline\0two\r\n", 20) + std::string(100000, 'x');
  write_file_atomic(dir.file("a.txt"), content);
  EXPECT_EQ(read_text_file(dir.file("a.txt"), "test file"), content);
  write_file_atomic(dir.file("empty"), "");
  EXPECT_EQ(read_text_file(dir.file("empty"), "test file"), "");
}

TEST(FileUtil, ReadMissingFileNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("missing.yaml");
  expect_invalid_input([&] { read_text_file(path, "config file"); },
                       {"config file \"" + path + "\"", "cannot open for reading", "No such file"});
}

TEST(FileUtil, ReadDirectoryIsAnError) {
  // an ifstream opens a directory and reads nothing: without a check it reads as an empty file
  TempDir dir;
  expect_invalid_input([&] { read_text_file(dir.path(), "config file"); },
                       {"config file \"" + dir.path() + "\"", "is a directory"});
}

// Reads are bounded: a device, an oversized file or a FIFO without a writer ends with an error naming
// the file, quickly and within bounded memory.
TEST(FileUtil, ReadIsBoundedForDevicesLargeFilesAndFifos) {
  expect_invalid_input([&] { read_text_file("/dev/zero", "config file", 1024, true); },
                       {"config file \"/dev/zero\"", "character device", "expected a regular file"});
  TempDir dir;
  const std::string big = dir.file("big.pbtxt");
  std::ofstream(big) << std::string(2048, 'x');
  expect_invalid_input([&] { read_text_file(big, "config file", 1024); }, {big, "2048 bytes", "at most 1024 bytes"});
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_invalid_input([&] { read_text_file(fifo, "data file"); }, {fifo, "FIFO", "expected a regular file"});
  expect_invalid_input([&] { read_text_file(fifo, "config file", 1024, true, 0.2); }, {fifo, "no data for 0.2 s"});
  // a FIFO with a writer (what `--config <(...)` passes) reads until the writer closes
  std::thread writer([&] { std::ofstream(fifo) << "run { seed: 4 }\n"; });
  EXPECT_EQ(read_text_file(fifo, "config file", 1024, true, 10), "run { seed: 4 }\n");
  writer.join();
  // ... and within the limit
  std::thread flood([&] { std::ofstream(fifo) << std::string(4096, 'y'); });
  expect_invalid_input([&] { read_text_file(fifo, "config file", 1024, true, 10); }, {fifo, "longer than 1024 bytes"});
  flood.join();
}

TEST(FileUtil, WriteFileAtomicReplacesAndLeavesNoTemp) {
  TempDir dir;
  const std::string path = dir.file("summary.json");
  write_file_atomic(path, "first version, longer than the second\n");
  EXPECT_EQ(read_text_file(path, "f"), "first version, longer than the second\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  write_file_atomic(path, "second\n");
  EXPECT_EQ(read_text_file(path, "f"), "second\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  // only the target is left in the directory
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileUtil, WriteFileAtomicIntoMissingDirectoryFails) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/out.json");
  testing::expect_io_error([&] { write_file_atomic(path, "x"); }, {"cannot write", path + ".tmp"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(FileUtil, LineWriterAppendsCompleteLines) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  {
    LineWriter writer(path);
    EXPECT_TRUE(writer.is_open());
    writer.write_line("{\"step\":1}");
    // flushed per line: visible before the writer closes
    EXPECT_EQ(read_text_file(path, "log"), "{\"step\":1}\n");
    writer.write_line("{\"step\":2}");
    writer.write_line("");
  }
  EXPECT_EQ(read_text_file(path, "log"), "{\"step\":1}\n{\"step\":2}\n\n");
  {
    LineWriter again(path);  // reopening appends, never truncates
    again.write_line("{\"step\":3}");
  }
  EXPECT_EQ(read_text_file(path, "log"), "{\"step\":1}\n{\"step\":2}\n\n{\"step\":3}\n");
}

TEST(FileUtil, LineWriterErrors) {
  TempDir dir;
  const std::string path = dir.file("missing/metrics.jsonl");
  testing::expect_io_error([&] { LineWriter writer(path); }, {"cannot open \"" + path + "\" for appending"});

  LineWriter closed;
  EXPECT_FALSE(closed.is_open());
  try {
    closed.write_line("x");
    ADD_FAILURE() << "write_line on a closed writer did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
  }
}

}  // namespace joule
