// Test helpers for data files: a fresh temporary directory and IDX encoding (raw and gzip).
// (expect_invalid_input lives in tests/support/expect_error.h.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace joule::testing {

// mkdtemp under /tmp; removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The bytes of an IDX file: 0 0 type ndim, big-endian u32 dims, then `data` as given.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                               uint8_t type = 0x08);
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes);  // zlib gzwrite
std::vector<uint8_t> read_bytes(const std::string& path);

}  // namespace joule::testing
