// The clocks and the host name (core/clock.h).
#include "core/clock.h"

#include <unistd.h>

#include <ctime>

namespace joule {
namespace {

double clock_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

double monotonic_seconds() { return clock_seconds(CLOCK_MONOTONIC); }
double unix_seconds() { return clock_seconds(CLOCK_REALTIME); }
double process_cpu_seconds() { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace joule
