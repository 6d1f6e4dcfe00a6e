// Shared by the libFuzzer targets (scripts/fuzz.sh): inputs become files in a private temporary
// folder, because the readers under test take paths (as joule-train and joule-report do).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace joule::fuzz {

// A folder of this process, made once, emptied by each call of fresh_dir().
inline const std::string& fuzz_dir() {
  static const std::string dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "joule-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
  }();
  return dir;
}

inline std::string fresh_dir() {
  const std::string dir = fuzz_dir() + "/case";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Splits the input at each "\n----\n" into up to `n` parts (the rest empty).
inline std::string part(const uint8_t* data, size_t size, int index) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const std::string separator = "\n----\n";
  size_t begin = 0;
  for (int i = 0; i < index; ++i) {
    const size_t at = all.find(separator, begin);
    if (at == std::string::npos) return "";
    begin = at + separator.size();
  }
  const size_t end = all.find(separator, begin);
  return all.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

}  // namespace joule::fuzz
