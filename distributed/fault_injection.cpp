// JOULE_FAULT parsing and the faults themselves (see fault_injection.h for the format).
#include "distributed/fault_injection.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace joule {
namespace {

constexpr const char* kFormat =
    "expected throw:RANK:STEP, sleep:RANK:STEP:SECONDS, kill:RANK:STEP, term:RANK:STEP[:eval|:checkpoint|:twice], "
    "stop:RANK:STEP or nonfinite:RANK:STEP[:COUNT]";

std::atomic<bool> g_stop_armed{false};  // set by inject_fault (stop), taken by inject_armed_fault

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == separator) parts.emplace_back();
    else parts.back() += c;
  }
  return parts;
}

// A whole non-negative decimal integer, or -1.
int64_t parse_count(const std::string& text) {
  if (text.empty() || text.size() > 18) return -1;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

const char* kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::throw_error: return "throw";
    case FaultKind::sleep: return "sleep";
    case FaultKind::kill: return "kill";
    case FaultKind::term: return "term";
    case FaultKind::stop: return "stop";
    case FaultKind::nonfinite: return "nonfinite";
    case FaultKind::none: break;
  }
  return "none";
}

}  // namespace

FaultPlan parse_fault_plan(const char* text) {
  FaultPlan plan;
  if (text == nullptr || *text == '\0') return plan;
  const std::string value = text;
  const std::vector<std::string> parts = split(value, ':');
  const std::string& kind = parts[0];
  if (kind == "throw") plan.kind = FaultKind::throw_error;
  else if (kind == "sleep") plan.kind = FaultKind::sleep;
  else if (kind == "kill") plan.kind = FaultKind::kill;
  else if (kind == "term") plan.kind = FaultKind::term;
  else if (kind == "stop") plan.kind = FaultKind::stop;
  else if (kind == "nonfinite") plan.kind = FaultKind::nonfinite;
  JOULE_CHECK(plan.kind != FaultKind::none, "JOULE_FAULT='", value, "': unknown fault '", kind, "': ", kFormat);
  // term and nonfinite take an optional fourth field (WHERE, COUNT)
  const bool optional_fourth = (plan.kind == FaultKind::term || plan.kind == FaultKind::nonfinite) && parts.size() == 4;
  if (optional_fourth && plan.kind == FaultKind::term) {
    const std::string& where = parts[3];
    if (where == "eval") plan.point = FaultPoint::eval;
    else if (where == "checkpoint") plan.point = FaultPoint::checkpoint;
    else if (where == "twice") plan.twice = true;
    else JOULE_FAIL_INPUT("JOULE_FAULT='", value, "': WHERE '", where, "' is not eval, checkpoint or twice: ", kFormat);
  }
  if (optional_fourth && plan.kind == FaultKind::nonfinite) {
    plan.count = parse_count(parts[3]);
    JOULE_CHECK(plan.count >= 1, "JOULE_FAULT='", value, "': COUNT '", parts[3], "' is not a count of steps (>= 1): ",
                kFormat);
  }
  const size_t expected_parts = plan.kind == FaultKind::sleep || optional_fourth ? 4 : 3;
  JOULE_CHECK(parts.size() == expected_parts, "JOULE_FAULT='", value, "': ", expected_parts - 1,
              " fields after '", kind, "' expected: ", kFormat);
  const int64_t rank = parse_count(parts[1]);
  JOULE_CHECK(rank >= 0 && rank <= 1 << 30, "JOULE_FAULT='", value, "': RANK '", parts[1],
              "' is not a rank (a whole number >= 0): ", kFormat);
  plan.rank = static_cast<int>(rank);
  plan.step = parse_count(parts[2]);
  JOULE_CHECK(plan.step >= 0, "JOULE_FAULT='", value, "': STEP '", parts[2],
              "' is not a step (a whole number >= 0): ", kFormat);
  if (plan.kind == FaultKind::sleep) {
    const std::string& seconds = parts[3];
    char* end = nullptr;
    plan.seconds = seconds.empty() ? -1 : std::strtod(seconds.c_str(), &end);
    JOULE_CHECK(!seconds.empty() && end != nullptr && *end == '\0' && plan.seconds >= 0 && plan.seconds <= 1e6,
                "JOULE_FAULT='", value, "': SECONDS '", seconds, "' is not a number of seconds in [0, 1e6]: ",
                kFormat);
  }
  return plan;
}

void inject_fault(const FaultPlan& plan, int rank, int64_t step, FaultPoint point) {
  if (plan.kind == FaultKind::none || plan.rank != rank || plan.step != step || plan.point != point) return;
  std::fprintf(stderr, "joule (rank %d): JOULE_FAULT: injecting '%s' at step %lld\n", rank, kind_name(plan.kind),
               static_cast<long long>(step));
  std::fflush(stderr);
  switch (plan.kind) {
    case FaultKind::throw_error:
      JOULE_FAIL("injected fault (JOULE_FAULT=throw:", rank, ":", step, ") on rank ", rank, " at step ", step);
    case FaultKind::sleep:
      std::this_thread::sleep_for(std::chrono::duration<double>(plan.seconds));
      return;
    case FaultKind::kill:
      std::raise(SIGKILL);
      return;
    case FaultKind::term:
      std::raise(SIGTERM);
      if (plan.twice) {  // the second ends the process at once
        // after the first is handled: a signal that arrives while the same one is pending merges
        // with it (ThreadSanitizer defers delivery to its next interceptor, a sleep is one)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::raise(SIGTERM);
        // the watcher thread ends the process while this one would go on to a clean stop: waiting
        // here lets a deferred delivery happen and keeps the clean stop from racing the exit
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
      return;
    case FaultKind::stop:
      g_stop_armed.store(true);
      return;
    case FaultKind::nonfinite:  // the trainer asks fault_nonfinite()
    case FaultKind::none:
      return;
  }
}

bool fault_nonfinite(const FaultPlan& plan, int rank, int64_t step) {
  return plan.kind == FaultKind::nonfinite && plan.rank == rank && step >= plan.step && step < plan.step + plan.count;
}

void inject_armed_fault(int rank, const char* what) {
  if (!g_stop_armed.load(std::memory_order_relaxed) || !g_stop_armed.exchange(false)) return;
  std::fprintf(stderr, "joule (rank %d): JOULE_FAULT: stopping (SIGSTOP) inside %s, after its arrival gate\n", rank,
               what);
  std::fflush(stderr);
  std::raise(SIGSTOP);
}

}  // namespace joule
