// Running the project's binaries from tests: exit status and combined stdout+stderr.
#pragma once

#include <string>

namespace joule::testing {

struct CommandResult {
  int status = -1;  // exit status, or 128 + signal
  std::string output;
};

CommandResult run_command(const std::string& command);  // through /bin/sh
std::string binary_path(const std::string& name);          // build/bin/<name>
std::string read_file(const std::string& path);
std::string shell_quote(const std::string& text);

}  // namespace joule::testing
