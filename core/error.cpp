#include "core/error.h"

namespace joule {
namespace {

// "core/tensor.cpp:42": the path from the project's top folder on, when it can be found.
std::string location(const char* file, int line) {
  static const char* const roots[] = {"/core/", "/ops/", "/cuda/", "/distributed/", "/energy/", "/examples/", "/tests/"};
  std::string path = file;
  for (const char* root : roots) {
    const size_t at = path.rfind(root);
    if (at != std::string::npos) {
      path.erase(0, at + 1);
      break;
    }
  }
  return path.append(":").append(std::to_string(line));
}

}  // namespace

Error::Error(ErrorKind kind, const char* file, int line, const std::string& message)
    : std::runtime_error(message + " [" + location(file, line) + "]"),
      kind_(kind),
      message_(message),
      where_(location(file, line)) {}

}  // namespace joule
