// joule::cli (examples/cli.h): CLI11's parse errors as joule's invalid input, number bounds, command_main.
#include "examples/cli.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "core/exit_status.h"

namespace joule::cli {
namespace {

// The usage pointer appended to every parse error: "run 'joule-bench gemm --help' for the usage".
std::string usage_hint(const CLI::App& app) { return "; run '" + app.get_name() + " --help' for the usage"; }

// `text` as a finite double, or false.
bool parse_number(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *value = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(*value);
}

std::string format_bound(double bound) {
  std::ostringstream out;
  out << bound;
  return out.str();
}

CLI::Validator bound(double min, bool inclusive) {
  const std::string expected = std::string("a number ") + (inclusive ? ">= " : "> ") + format_bound(min);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        if (parse_number(text, &value) && (inclusive ? value >= min : value > min)) return "";
        return "expected " + expected + ", got '" + text + "'";
      },
      (inclusive ? ">=" : ">") + format_bound(min));
}

}  // namespace

void parse(CLI::App& app, int argc, char** argv, std::vector<std::string>* extras) {
  app.allow_extras();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    JOULE_FAIL_INPUT(e.what(), usage_hint(app));
  }
  std::vector<std::string> rest = app.remaining();
  if (extras != nullptr) {
    *extras = std::move(rest);
    return;
  }
  JOULE_CHECK(rest.empty(), "unknown argument '", rest.empty() ? "" : rest.front(), "'", usage_hint(app));
}

void setup(CLI::App& app, bool* help) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_help_flag();
  app.add_flag("-h,--help", *help, "print this help and exit");
}

CLI::Validator at_least(double min) { return bound(min, true); }
CLI::Validator greater_than(double min) { return bound(min, false); }

int command_main(const char* program, int argc, char** argv, std::string (*usage)(), int (*run)(int, char**)) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return std::fputs(usage().c_str(), stdout), 0;
  }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return report_error(program, -1, e);
  }
}

}  // namespace joule::cli
