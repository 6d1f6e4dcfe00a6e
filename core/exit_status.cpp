// exit_status_for and the error line every joule command prints (core/exit_status.h).
#include "core/exit_status.h"

#include <cstdio>

#include "core/error.h"

namespace joule {

int exit_status_for(const std::exception& error) {
  const auto* joule_error = dynamic_cast<const Error*>(&error);
  if (joule_error != nullptr && joule_error->kind() == ErrorKind::invalid_input) return kExitInvalidInput;
  return kExitFailure;  // ErrorKind::io, ErrorKind::internal, OutOfMemory, std::bad_alloc, anything else
}

void print_error(const char* program, int rank, const std::exception& error) {
  if (rank >= 0) {
    std::fprintf(stderr, "%s (rank %d): error: %s\n", program, rank, error.what());
  } else {
    std::fprintf(stderr, "%s: error: %s\n", program, error.what());
  }
  std::fflush(stderr);
}

int report_error(const char* program, int rank, const std::exception& error) {
  print_error(program, rank, error);
  return exit_status_for(error);
}

}  // namespace joule
