// IDX reader: the whole file is read (and inflated, when gzip) into memory, then the header is
// parsed and the element count checked against the bytes that follow it. Reads are bounded by the
// format: only regular files; a raw file's size is checked against its header before the rest is
// read; inflation stops one byte past the size the header declares.
#include "core/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/file_util.h"
#include "core/tensor.h"

namespace joule {
namespace {

constexpr uint8_t kTypeU8 = 0x08;
constexpr int kMaxDims = 4;

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The size of the whole (uncompressed) file its header declares, from its first `n` bytes; 0 when
// unknown: the header is incomplete or invalid, or its element count overflows (read_idx then
// reports why). Bounds every read by what the format allows.
uint64_t declared_size(const uint8_t* p, size_t n) {
  if (n < 4) return 0;
  const int ndim = p[3];
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(ndim);
  if (p[0] != 0 || p[1] != 0 || p[2] != kTypeU8 || ndim < 1 || ndim > kMaxDims || n < header) return 0;
  uint64_t elements = 1;
  for (int d = 0; d < ndim; ++d)
    if (__builtin_mul_overflow(elements, uint64_t{read_be32(p + 4 + 4 * d)}, &elements)) return 0;
  return elements > UINT64_MAX - header ? 0 : header + elements;
}

// Inflating a stream whose header is unusable goes on only this far: enough for zlib to find a
// corrupt stream, not enough to fill memory.
constexpr size_t kUnknownSizeInflateLimit = size_t{1} << 20;

// A regular file's bytes (devices, FIFOs and directories are refused before any read). A raw IDX
// file whose size differs from what its header declares is refused after reading just the header.
std::vector<uint8_t> read_file_bytes(const std::string& path, bool* gzip, uint64_t* file_size) {
  uint64_t size = 0;
  const int fd = open_regular_file(path, "IDX file", &size);
  *file_size = size;
  std::unique_ptr<FILE, int (*)(FILE*)> file(::fdopen(fd, "rb"), &std::fclose);
  JOULE_ASSERT(file != nullptr, "fdopen failed");
  std::vector<uint8_t> bytes(std::min<uint64_t>(size, 20));
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), file.get()));
  *gzip = bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
  const uint64_t declared = *gzip ? 0 : declared_size(bytes.data(), bytes.size());
  if (declared > 0 && declared != size) return bytes;  // read_idx reports the mismatch from the header
  JOULE_CHECK(size <= SIZE_MAX, "IDX file '", path, "' is too large for this machine");
  bytes.resize(static_cast<size_t>(size));
  const size_t rest = bytes.size() - std::min<size_t>(bytes.size(), 20);
  const size_t got = rest == 0 ? 0 : std::fread(bytes.data() + 20, 1, rest, file.get());
  JOULE_CHECK(got == rest, "cannot read IDX file '", path, "': ",
              std::ferror(file.get()) ? std::strerror(errno) : "it shrank while being read");
  return bytes;
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
    // never inflate past what the header declares (plus one byte, so read_idx names the trailing data)
    const uint64_t declared = declared_size(out.data(), out.size());
    if (declared > 0 && out.size() > declared) {
      out.resize(static_cast<size_t>(declared + 1));
      return out;
    }
    if (declared == 0 && out.size() > kUnknownSizeInflateLimit) return out;  // read_idx says what is wrong
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

}  // namespace

IdxArray read_idx(const std::string& path) {
  bool gzip = false;
  uint64_t file_size = 0;
  std::vector<uint8_t> bytes = read_file_bytes(path, &gzip, &file_size);
  if (gzip) bytes = gunzip(bytes, path);

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
  // raw: the file's size (only its header was read when that is wrong); gzip: what was inflated,
  // which stops one byte past the declared size
  const uint64_t found = (gzip ? bytes.size() : file_size) - header;
  JOULE_CHECK(found >= expected, "IDX file '", path, "' is truncated: its dimensions ", dims, " imply ", expected,
              " data bytes, found ", found);
  JOULE_CHECK(found == expected, "IDX file '", path, "' has ", gzip ? "" : std::to_string(found - expected) + " ",
              "trailing bytes: its dimensions ", dims, " imply ", expected, " data bytes, found ",
              gzip ? "more" : std::to_string(found));

  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  array.data = std::move(bytes);
  return array;
}

}  // namespace joule
