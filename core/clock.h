// The clocks and the host name, one definition each for the whole project.
//   monotonic_seconds(): CLOCK_MONOTONIC (std::chrono::steady_clock on Linux), seconds from an
//     arbitrary origin; never goes back. For durations, phase marks and every meter's time_s.
//   unix_seconds(): the system clock, seconds since the Unix epoch (may step when the clock is set).
//     For records that ranks on different nodes must line up (rank logs, TensorBoard wall_time).
//   host_name(): this machine's name (gethostname), "localhost" when it has none.
#pragma once

#include <string>

namespace joule {

double monotonic_seconds();  // seconds, CLOCK_MONOTONIC
double unix_seconds();       // seconds since 1970-01-01 00:00:00 UTC, microsecond resolution or better
double process_cpu_seconds();  // CPU seconds of this process, all threads (CLOCK_PROCESS_CPUTIME_ID)
std::string host_name();

}  // namespace joule
