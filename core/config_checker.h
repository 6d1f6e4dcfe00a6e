// Config range checks (core/config.cpp, core/config_controller.cpp): each failure names the config
// file, the field, the value and what is allowed, and throws invalid input (exit status 2).
#pragma once

#include <unistd.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/file_util.h"
#include "core/proto/config.pb.h"

namespace joule {

class Checker {
 public:
  explicit Checker(std::string origin) : origin_(std::move(origin)) {}

  template <class T>
  void at_least(const std::string& field, T value, T low) {
    JOULE_CHECK(value >= low, origin_, ": ", field, " = ", value, ": expected >= ", low);
  }
  template <class T>
  void in_range(const std::string& field, T value, T low, T high) {
    JOULE_CHECK(value >= low && value <= high, origin_, ": ", field, " = ", value, ": expected ", low, " .. ", high);
  }
  void positive(const std::string& field, double value) {
    JOULE_CHECK(std::isfinite(value) && value > 0, origin_, ": ", field, " = ", value, ": expected > 0");
  }
  void non_negative(const std::string& field, double value) {
    JOULE_CHECK(std::isfinite(value) && value >= 0, origin_, ": ", field, " = ", value, ": expected >= 0");
  }
  void probability(const std::string& field, double value) {  // [0, 1)
    JOULE_CHECK(value >= 0 && value < 1, origin_, ": ", field, " = ", value, ": expected 0 <= value < 1");
  }
  void readable_file(const std::string& field, const std::string& path) {
    JOULE_CHECK(!path.empty(), origin_, ": ", field, " is empty: expected the path of an IDX file");
    try {
      uint64_t size = 0;
      ::close(open_regular_file(path, "file", &size));
    } catch (const Error& e) {  // "file "/dev/zero": is a character device: ..." under the field's name
      JOULE_FAIL_INPUT(origin_, ": ", field, " = \"", path, "\": ", e.message().substr(e.message().find("\": ") + 3));
    }
  }
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
};


// energy.controller (core/config_controller.cpp): ranges, ordered bounds, known precisions, and no
// scripted energy.schedule beside it.
void validate_controller(Checker& c, const pb::Config& config);

}  // namespace joule
