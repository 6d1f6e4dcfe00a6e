// Command lines of joule's commands (joule-train, joule-report, joule-bench and its subcommands),
// parsed by CLI11 (Debian libcli11-dev, header-only) in one way: a flag that does not exist, a
// missing value or a value its option refuses is invalid input (exit status 2, core/exit_status.h)
// whose message names the flag; the usage (--help) is CLI11's, made from the options themselves.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace joule::cli {

// Parses argv[1..argc) with `app` (argv[0] is the program: a subcommand passes argc - 1, argv + 1).
// Arguments no option takes are refused ("unknown argument '--frob'"), unless `extras` is given:
// then they are left in *extras for the caller. Throws joule::Error (invalid_input) on any parse
// error, naming the flag; `app`'s help flag, if it has one, is the caller's (see help_flag).
void parse(CLI::App& app, int argc, char** argv, std::vector<std::string>* extras = nullptr);

// Call first, before adding options: as in joule's parsers before CLI11, an option given twice takes
// the last value (scripts append overrides to a fixed command line); CLI11's help flag, which throws
// to be answered, is replaced by a plain -h/--help flag on *help.
void setup(CLI::App& app, bool* help);

// The main() of a command without subcommands or signal handling (joule-report, joule-sim):
// --help or -h anywhere prints usage() and exits 0 before anything is parsed; otherwise run(argc,
// argv), whose exceptions end as report_error(program) (core/exit_status.h: status 2 for invalid
// input, with the message).
int command_main(const char* program, int argc, char** argv, std::string (*usage)(), int (*run)(int, char**));

// Bounds for numeric options, checked on the text before conversion, with messages that say what
// was expected: "--iters: expected a number >= 1, got '0'".
CLI::Validator at_least(double min);      // a finite number >= min
CLI::Validator greater_than(double min);  // a finite number > min

}  // namespace joule::cli
