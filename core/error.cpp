#include "core/error.h"

#include <cstring>

namespace joule {
namespace {
// Paths are reported relative to the project root (the part after core/, ops/, ... ) when possible.
std::string short_path(const char* file) {
  static const char* const roots[] = {"/core/", "/ops/", "/cuda/", "/distributed/", "/energy/", "/examples/", "/tests/"};
  const char* best = nullptr;
  for (const char* root : roots) {
    for (const char* p = std::strstr(file, root); p != nullptr; p = std::strstr(p + 1, root)) best = p;
    if (best != nullptr) return std::string(best + 1);
  }
  return file;
}
}  // namespace

Error::Error(ErrorKind kind, const char* file, int line, const std::string& message)
    : std::runtime_error(message + " [" + short_path(file) + ":" + std::to_string(line) + "]"),
      kind_(kind),
      message_(message),
      where_(short_path(file) + ":" + std::to_string(line)) {}

}  // namespace joule
