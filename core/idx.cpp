// IDX reader: the whole file is read (and inflated, when gzip) into memory, then the header is
// parsed and the element count checked against the bytes that follow it.
#include "core/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/tensor.h"

namespace joule {
namespace {

constexpr uint8_t kTypeU8 = 0x08;
constexpr int kMaxDims = 4;

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  JOULE_CHECK(file != nullptr, "cannot open IDX file '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  size_t got = 0;
  while ((got = std::fread(chunk.data(), 1, chunk.size(), file.get())) > 0) {
    bytes.insert(bytes.end(), chunk.data(), chunk.data() + got);
  }
  // errno is still that of the failed read (a directory gives EISDIR).
  JOULE_CHECK(!std::ferror(file.get()), "cannot read IDX file '", path, "': ", std::strerror(errno));
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// Inflates one or more concatenated gzip members (as gzip(1) and zlib's gzread accept).
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, const std::string& path) {
  struct Inflater {
    z_stream stream{};
    ~Inflater() { inflateEnd(&stream); }
  } inflater;
  z_stream& stream = inflater.stream;
  // 15 + 16: a gzip wrapper with the largest window.
  JOULE_ASSERT(inflateInit2(&stream, 15 + 16) == Z_OK, "inflateInit2 failed");
  stream.next_in = const_cast<Bytef*>(compressed.data());
  stream.avail_in = static_cast<uInt>(compressed.size());
  JOULE_CHECK(compressed.size() == stream.avail_in, "gzip IDX file '", path, "' is larger than 4 GiB");
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    stream.next_out = chunk.data();
    stream.avail_out = static_cast<uInt>(chunk.size());
    const int ret = inflate(&stream, Z_NO_FLUSH);
    out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - stream.avail_out));
    if (ret == Z_OK) continue;
    if (ret == Z_STREAM_END) {
      if (stream.avail_in == 0) return out;
      const bool another_member = stream.avail_in >= 2 && stream.next_in[0] == 0x1f && stream.next_in[1] == 0x8b;
      JOULE_CHECK(another_member, "corrupt IDX file '", path, "': ", stream.avail_in,
                  " unexpected bytes after the end of the gzip stream");
      inflateReset(&stream);
      continue;
    }
    JOULE_CHECK(!(ret == Z_BUF_ERROR && stream.avail_in == 0), "corrupt gzip stream in IDX file '", path,
                "': the compressed data ends early (truncated file)");
    JOULE_FAIL_INPUT("corrupt gzip stream in IDX file '", path, "': ", stream.msg ? stream.msg : zError(ret));
  }
}

std::string hex_byte(uint8_t value) {
  const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[value >> 4] + digits[value & 15];
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  if (is_gzip(bytes)) bytes = gunzip(bytes, path);

  JOULE_CHECK(bytes.size() >= 4, "IDX file '", path, "' is too short for its 4-byte header (", bytes.size(),
              " bytes)");
  JOULE_CHECK(bytes[0] == 0 && bytes[1] == 0, "IDX file '", path,
              "' has a bad magic number: expected the first two bytes to be 0x00 0x00, found ", hex_byte(bytes[0]),
              " ", hex_byte(bytes[1]), " (not an IDX file)");
  const uint8_t type = bytes[2];
  JOULE_CHECK(type == kTypeU8, "IDX file '", path, "' has unsupported data type code ", hex_byte(type),
              ": only 0x08 (unsigned byte) is supported");
  const int ndim = bytes[3];
  JOULE_CHECK(ndim >= 1 && ndim <= kMaxDims, "IDX file '", path, "' has ", ndim,
              " dimensions: expected 1 to ", kMaxDims);

  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  JOULE_CHECK(bytes.size() >= header, "IDX file '", path, "' is truncated: its header needs ", header,
              " bytes for ", ndim, " dimensions, found ", bytes.size());
  IdxArray array;
  uint64_t expected = 1;
  bool overflow = false;
  for (int d = 0; d < ndim; ++d) {
    const uint32_t dim = read_be32(bytes.data() + 4 + 4 * d);
    array.dims.push_back(dim);
    overflow = __builtin_mul_overflow(expected, uint64_t{dim}, &expected) || overflow;
  }
  const std::string dims = shape_str(array.dims);
  // A zero dimension means no elements, however large the others.
  if (std::find(array.dims.begin(), array.dims.end(), 0) != array.dims.end()) {
    expected = 0;
    overflow = false;
  }
  JOULE_CHECK(!overflow, "IDX file '", path, "' has dimensions ", dims, " whose element count overflows 64 bits");
  const uint64_t found = bytes.size() - header;
  JOULE_CHECK(found >= expected, "IDX file '", path, "' is truncated: its dimensions ", dims, " imply ", expected,
              " data bytes, found ", found);
  JOULE_CHECK(found == expected, "IDX file '", path, "' has ", found - expected, " trailing bytes: its dimensions ",
              dims, " imply ", expected, " data bytes, found ", found);

  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  array.data = std::move(bytes);
  return array;
}

}  // namespace joule
