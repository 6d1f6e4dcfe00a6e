// Errors carry the source file:line where they were raised and a kind that decides the exit status:
// invalid_input (bad arguments, config, data files: exit 2), io (a write that failed: a full disk, a
// vanished folder; exit 1) or internal (a broken invariant: exit 1).
#pragma once

#include <cstddef>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>

namespace joule {

enum class ErrorKind { invalid_input, io, internal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const char* file, int line, const std::string& message);
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }  // without the file:line suffix
  const std::string& where() const { return where_; }      // "core/tensor.cpp:42"

 private:
  ErrorKind kind_;
  std::string message_;
  std::string where_;
};

// An allocation that failed: a std::bad_alloc that says how much was asked for. Callers that know
// which config fields decide the size turn it into invalid input naming them (Trainer).
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(size_t bytes) : message_("out of memory allocating " + std::to_string(bytes) + " bytes") {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace joule

// User input (arguments, config values, files, shapes handed in by callers): exit status 2.
#define JOULE_CHECK(cond, ...)                                                                     \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      throw ::joule::Error(::joule::ErrorKind::invalid_input, __FILE__, __LINE__,                  \
                           ::joule::detail::concat(__VA_ARGS__));                                  \
  } while (0)

#define JOULE_FAIL_INPUT(...)                                                                      \
  throw ::joule::Error(::joule::ErrorKind::invalid_input, __FILE__, __LINE__,                      \
                       ::joule::detail::concat(__VA_ARGS__))

// Output that could not be written (a full disk, a read-only folder): exit status 1.
#define JOULE_CHECK_IO(cond, ...)                                                                  \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      throw ::joule::Error(::joule::ErrorKind::io, __FILE__, __LINE__,                             \
                           ::joule::detail::concat(__VA_ARGS__));                                  \
  } while (0)

// Internal invariants: a failure is a bug in joule (exit status 1).
#define JOULE_ASSERT(cond, ...)                                                                    \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      throw ::joule::Error(::joule::ErrorKind::internal, __FILE__, __LINE__,                       \
                           ::joule::detail::concat("assertion `" #cond "` failed: ", ##__VA_ARGS__)); \
  } while (0)

#define JOULE_FAIL(...)                                                                            \
  throw ::joule::Error(::joule::ErrorKind::internal, __FILE__, __LINE__,                           \
                       ::joule::detail::concat(__VA_ARGS__))
