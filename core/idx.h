// IDX files (the MNIST / Fashion-MNIST container): magic 0x00 0x00 <type> <ndim>, ndim big-endian
// u32 dimensions, then the elements in row-major order. Files may be gzip-compressed (detected by
// the 1f 8b magic, not by the file name). Only type 0x08 (unsigned byte) is supported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace joule {

struct IdxArray {
  std::vector<int64_t> dims;  // 1 to 4 dimensions
  std::vector<uint8_t> data;  // product(dims) elements, row-major
};

// Reads and validates a whole IDX file. Every problem (missing or unreadable file, bad magic,
// unsupported type code, ndim 0 or > 4, truncated data, trailing bytes, corrupt gzip stream) throws
// an invalid_input Error whose message names `path` and what was expected.
IdxArray read_idx(const std::string& path);

}  // namespace joule
