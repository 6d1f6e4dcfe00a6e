// IDX reader: raw and gzip round trips, and one test per kind of malformed file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/idx.h"
#include "tests/support/data_files.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::idx_bytes;
using testing::TempDir;

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 37 + 5);
  return v;
}

TEST(Idx, ReadsRawU8) {
  TempDir dir;
  const std::vector<uint8_t> data = ramp(2 * 3 * 4);
  testing::write_bytes(dir.file("a.idx"), idx_bytes({2, 3, 4}, data));
  IdxArray array = read_idx(dir.file("a.idx"));
  EXPECT_EQ(array.dims, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(array.data, data);
}

TEST(Idx, ReadsGzipByMagicNotName) {
  TempDir dir;
  const std::vector<uint8_t> data = ramp(300 * 2);
  testing::write_gzip(dir.file("b.idx"), idx_bytes({300, 2}, data));
  ASSERT_EQ(testing::read_bytes(dir.file("b.idx"))[0], 0x1f);
  IdxArray array = read_idx(dir.file("b.idx"));
  EXPECT_EQ(array.dims, (std::vector<int64_t>{300, 2}));
  EXPECT_EQ(array.data, data);
}

TEST(Idx, ReadsConcatenatedGzipMembers) {
  TempDir dir;
  const std::vector<uint8_t> whole = idx_bytes({5, 4}, ramp(20));
  testing::write_gzip(dir.file("p1"), std::vector<uint8_t>(whole.begin(), whole.begin() + 11));
  testing::write_gzip(dir.file("p2"), std::vector<uint8_t>(whole.begin() + 11, whole.end()));
  std::vector<uint8_t> joined = testing::read_bytes(dir.file("p1"));
  std::vector<uint8_t> second = testing::read_bytes(dir.file("p2"));
  joined.insert(joined.end(), second.begin(), second.end());
  testing::write_bytes(dir.file("c.gz"), joined);
  EXPECT_EQ(read_idx(dir.file("c.gz")).data, ramp(20));
}

TEST(Idx, ReadsOneDimensionAndEmptyArray) {
  TempDir dir;
  testing::write_bytes(dir.file("l"), idx_bytes({3}, {7, 8, 9}));
  EXPECT_EQ(read_idx(dir.file("l")).data, (std::vector<uint8_t>{7, 8, 9}));
  testing::write_bytes(dir.file("e"), idx_bytes({0, 28}, {}));
  EXPECT_EQ(read_idx(dir.file("e")).dims, (std::vector<int64_t>{0, 28}));
}

TEST(Idx, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("absent.idx");
  expect_invalid_input([&] { read_idx(path); }, {path, "cannot open", "No such file"});
}

TEST(Idx, BadMagic) {
  TempDir dir;
  std::vector<uint8_t> bytes = idx_bytes({2}, {1, 2});
  bytes[0] = 0x50;  // 'P', as in a PNG or text file
  testing::write_bytes(dir.file("m"), bytes);
  expect_invalid_input([&] { read_idx(dir.file("m")); }, {dir.file("m"), "magic", "0x00 0x00", "0x50"});
}

TEST(Idx, UnsupportedTypeNamesTheCode) {
  TempDir dir;
  testing::write_bytes(dir.file("f"), idx_bytes({1}, {0, 0, 0, 0}, 0x0D));  // 0x0D = float
  expect_invalid_input([&] { read_idx(dir.file("f")); }, {dir.file("f"), "type code 0x0d", "0x08"});
}

TEST(Idx, ZeroDimensions) {
  TempDir dir;
  testing::write_bytes(dir.file("z"), idx_bytes({}, {}));
  expect_invalid_input([&] { read_idx(dir.file("z")); }, {dir.file("z"), "0 dimensions", "1 to 4"});
}

TEST(Idx, TooManyDimensions) {
  TempDir dir;
  testing::write_bytes(dir.file("five"), idx_bytes({1, 1, 1, 1, 1}, {9}));
  expect_invalid_input([&] { read_idx(dir.file("five")); }, {dir.file("five"), "5 dimensions", "1 to 4"});
}

TEST(Idx, TruncatedHeader) {
  TempDir dir;
  std::vector<uint8_t> bytes = idx_bytes({2, 3}, {});
  bytes.resize(9);  // 4 + 4 + 1 of the 12 header bytes
  testing::write_bytes(dir.file("h"), bytes);
  expect_invalid_input([&] { read_idx(dir.file("h")); }, {dir.file("h"), "truncated", "12 bytes", "found 9"});
}

TEST(Idx, TruncatedDataSaysExpectedAndFound) {
  TempDir dir;
  testing::write_bytes(dir.file("t"), idx_bytes({2, 3, 4}, ramp(20)));
  expect_invalid_input([&] { read_idx(dir.file("t")); },
                       {dir.file("t"), "truncated", "[2, 3, 4]", "imply 24", "found 20"});
}

TEST(Idx, TruncatedDataInsideGzip) {
  TempDir dir;
  testing::write_gzip(dir.file("t.gz"), idx_bytes({10, 10}, ramp(99)));
  expect_invalid_input([&] { read_idx(dir.file("t.gz")); }, {dir.file("t.gz"), "truncated", "100", "found 99"});
}

TEST(Idx, DimensionsOverflowing64Bits) {
  TempDir dir;
  testing::write_bytes(dir.file("huge"), idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, {1, 2, 3}));
  expect_invalid_input([&] { read_idx(dir.file("huge")); }, {dir.file("huge"), "overflows"});
  testing::write_bytes(dir.file("zero"), idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu, 0}, {}));
  EXPECT_TRUE(read_idx(dir.file("zero")).data.empty());
}

TEST(Idx, TrailingGarbage) {
  TempDir dir;
  testing::write_bytes(dir.file("g"), idx_bytes({2, 2}, ramp(7)));
  expect_invalid_input([&] { read_idx(dir.file("g")); }, {dir.file("g"), "3 trailing bytes", "4", "found 7"});
}

TEST(Idx, CorruptGzipStream) {
  TempDir dir;
  testing::write_gzip(dir.file("x.gz"), idx_bytes({64, 64}, ramp(64 * 64)));
  std::vector<uint8_t> bytes = testing::read_bytes(dir.file("x.gz"));
  ASSERT_GT(bytes.size(), 40u);
  for (size_t i = 12; i < bytes.size() - 8; i += 3) bytes[i] ^= 0x5a;  // scramble the deflate body
  testing::write_bytes(dir.file("x.gz"), bytes);
  expect_invalid_input([&] { read_idx(dir.file("x.gz")); }, {dir.file("x.gz"), "corrupt gzip stream"});
}

TEST(Idx, CorruptGzipChecksum) {
  TempDir dir;
  testing::write_gzip(dir.file("crc.gz"), idx_bytes({8}, ramp(8)));
  std::vector<uint8_t> bytes = testing::read_bytes(dir.file("crc.gz"));
  bytes[bytes.size() - 8] ^= 0xff;  // the CRC-32 of the trailer
  testing::write_bytes(dir.file("crc.gz"), bytes);
  expect_invalid_input([&] { read_idx(dir.file("crc.gz")); }, {dir.file("crc.gz"), "corrupt gzip stream", "check"});
}

TEST(Idx, TruncatedGzipFile) {
  TempDir dir;
  testing::write_gzip(dir.file("cut.gz"), idx_bytes({32, 32}, ramp(32 * 32)));
  std::vector<uint8_t> bytes = testing::read_bytes(dir.file("cut.gz"));
  bytes.resize(bytes.size() / 2);
  testing::write_bytes(dir.file("cut.gz"), bytes);
  expect_invalid_input([&] { read_idx(dir.file("cut.gz")); },
                       {dir.file("cut.gz"), "corrupt gzip stream", "ends early"});
}

TEST(Idx, GarbageAfterGzipStream) {
  TempDir dir;
  testing::write_gzip(dir.file("tail.gz"), idx_bytes({4}, ramp(4)));
  std::vector<uint8_t> bytes = testing::read_bytes(dir.file("tail.gz"));
  bytes.insert(bytes.end(), {'j', 'u', 'n', 'k'});
  testing::write_bytes(dir.file("tail.gz"), bytes);
  expect_invalid_input([&] { read_idx(dir.file("tail.gz")); }, {dir.file("tail.gz"), "4 unexpected bytes"});
}

TEST(Idx, DirectoryIsNotAFile) {
  TempDir dir;
  expect_invalid_input([&] { read_idx(dir.path()); }, {dir.path(), "is a directory", "expected a regular file"});
}

// Devices and FIFOs are refused before any read: /dev/zero would fill memory, a FIFO hang.
TEST(Idx, DevicesAndFifosAreRefusedUnread) {
  expect_invalid_input([&] { read_idx("/dev/zero"); }, {"/dev/zero", "character device", "expected a regular file"});
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  expect_invalid_input([&] { read_idx(dir.file("fifo")); }, {dir.file("fifo"), "FIFO"});
}

// Inflation stops one byte past the declared size: a small header over a large stream of zeros
// (a "gzip bomb") is refused without inflating it all.
TEST(Idx, GzipLongerThanItsHeaderDeclaresStopsEarly) {
  TempDir dir;
  std::vector<uint8_t> bytes = idx_bytes({10, 10}, ramp(100));
  bytes.resize(bytes.size() + (size_t{64} << 20), 0);
  testing::write_gzip(dir.file("bomb.gz"), bytes);
  expect_invalid_input([&] { read_idx(dir.file("bomb.gz")); }, {dir.file("bomb.gz"), "trailing bytes", "100 data bytes"});
}

}  // namespace
}  // namespace joule
