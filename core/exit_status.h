// Exit statuses of joule's commands (joule-train, joule-report, joule-bench), decided in one place
// from the exception that ended the command, and the one way they print it:
//   0 success; 2 invalid input (ErrorKind::invalid_input: arguments, config, data files; nothing
//   written); 1 everything else: output that could not be written (ErrorKind::io, also once the run
//   directory exists), OutOfMemory or any std::bad_alloc, a broken invariant, any other exception;
//   3 interrupted (joule-train, decided by its run loop, never by an exception).
#pragma once

#include <exception>

namespace joule {

constexpr int kExitSuccess = 0;
constexpr int kExitFailure = 1;
constexpr int kExitInvalidInput = 2;
constexpr int kExitInterrupted = 3;

// The exit status for a command ended by `error` (2 or 1, see the file top).
int exit_status_for(const std::exception& error);

// Writes "<program> (rank R): error: <what>" to stderr and flushes it; without " (rank R)" when
// rank < 0 (commands that run no MPI job).
void print_error(const char* program, int rank, const std::exception& error);

// print_error(), then exit_status_for(): the catch block of a main().
int report_error(const char* program, int rank, const std::exception& error);

}  // namespace joule
