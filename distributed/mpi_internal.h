// MPI internals of distributed/, shared by mpi_communicator.cpp and stall_watchdog.cpp and
// included by nothing else (it includes <mpi.h>; the public headers stay MPI-free): the MPI
// error-checking macros and StallWatchdog, the stall watchdog of MpiCommunicator.
//
// StallWatchdog (see mpi_communicator.h for what users see): every collective gets a number, 1,
// 2, … in call order, the same on every rank. On entering one, each rank ≠ 0 sends its number to
// rank 0 on the census communicator (one 8-byte MPI_Isend, completed lazily on later entries);
// rank 0 receives the reports on entry and while it waits, so it can name the ranks that have not
// arrived, and, once all have, those that entered no later collective (a rank frozen inside it is
// among them). Every collective is non-blocking underneath and every wait is watched: blocking
// collectives first wait at an MPI_Ibarrier "arrival gate", then for their data requests, both
// against one deadline counted from entry; a request's wait() polls its all-reduce and a gate of
// its own. Waits poll MPI_Test: they spin for the first ~1 ms, then, while some rank has not
// arrived (the gate has not completed), sleep between polls (pauses ≤ 2% of the wait so far,
// ≤ 1 ms); once all have arrived they keep polling without sleeping, because Open MPI moves a
// non-blocking collective's data only inside MPI calls (sleeping there made a 2M-float
// MPI_Iallreduce 30% slower). Past the timeout, rank 0 prints the missing ranks and calls
// MPI_Abort(MPI_COMM_WORLD, 1); another rank first gives rank 0 kGraceSeconds to do so. With an
// interrupt flag set (SIGINT/SIGTERM), a collective still waiting kInterruptGraceSeconds after it
// saw the flag ends the job at once, on any rank, with MPI_Abort(MPI_COMM_WORLD, 3).
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1  // no deprecated MPI-2 C++ bindings
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include "core/error.h"

namespace joule {

inline std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return detail::concat("MPI error code ", code);
  return detail::concat(std::string(text, static_cast<size_t>(length)), " (MPI error code ", code, ")");
}

}  // namespace joule

// Every MPI call goes through one of these: CHECK throws joule::Error (internal) with the call,
// MPI's error string and file:line; WARN (for destructors) prints the same and carries on.
#define JOULE_MPI_CHECK(call)                                                                      \
  do {                                                                                             \
    const int joule_mpi_status_ = (call);                                                          \
    if (joule_mpi_status_ != MPI_SUCCESS)                                                          \
      JOULE_FAIL(#call, " failed: ", ::joule::mpi_error_string(joule_mpi_status_));                \
  } while (0)

#define JOULE_MPI_WARN(call)                                                                       \
  do {                                                                                             \
    const int joule_mpi_status_ = (call);                                                          \
    if (joule_mpi_status_ != MPI_SUCCESS)                                                          \
      std::fprintf(stderr, "joule: warning: %s failed: %s [%s:%d]\n", #call,                      \
                   ::joule::mpi_error_string(joule_mpi_status_).c_str(), __FILE__, __LINE__);      \
  } while (0)

namespace joule {

class StallWatchdog {
 public:
  static constexpr double kGraceSeconds = 5;  // a rank ≠ 0 leaves rank 0 this long to end the job
  // How long a collective may go on waiting once it has seen the interrupt flag set: ranks a step
  // behind catch up within it, so a job interrupted everywhere still stops cleanly.
  static constexpr double kInterruptGraceSeconds = 5;
  static constexpr int kInterruptExitStatus = 3;  // the trainer's own status for "interrupted"

  // census: a communicator of the job's ranks used for nothing else (not owned; outlives this).
  StallWatchdog(MPI_Comm census, int rank, int size);
  StallWatchdog(const StallWatchdog&) = delete;
  StallWatchdog& operator=(const StallWatchdog&) = delete;

  void set_timeout(double seconds) { timeout_s_ = seconds; }  // > 0, checked by the caller
  void set_interrupt_flag(const std::atomic<bool>* flag) { interrupt_ = flag; }  // null: none
  double timeout() const { return timeout_s_; }
  int64_t collectives_started() const { return sequence_; }

  // Numbers the collective that starts now and reports the arrival (rank ≠ 0) or collects the
  // reports that are there (rank 0). Returns its number.
  int64_t enter();
  // For blocking collectives on `comm`: enter(), then wait (watched) at an MPI_Ibarrier until
  // every rank has entered too; the caller then starts the data's non-blocking collectives and
  // finishes them with finish().
  void arrive(MPI_Comm comm, const char* what);
  // The data phase of the collective arrive() let in: waits (watched) for requests[0..count), with
  // the deadline counted from arrive().
  void finish(MPI_Request* requests, int count, const char* what);
  // Polls requests[0..count) until all are done; past the timeout (counted from `since`, seconds
  // on the watchdog's steady clock; < 0: now) ends the job, naming collective `what` #number. It
  // also ends the job once interrupted (see the file top). gate: the
  // one of them that completes once every rank has arrived (an MPI_Ibarrier), or null when that is
  // known already.
  void wait(MPI_Request* requests, int count, MPI_Request* gate, const char* what, int64_t number,
            double since = -1);

  // Rank 0: per rank, the latest collective number it reported (after receiving what is there).
  std::vector<int64_t> arrivals();
  // Before the census communicator is freed: rank 0 receives the reports still on the way, the
  // others finish sending theirs (each for at most a second).
  void settle();

 private:
  struct Report {
    int64_t number;
    MPI_Request request;
  };
  void complete_reports();
  void receive_reports();
  // Rank 0: who keeps collective `number` waiting ("ranks not arrived: …" before the gate opened,
  // the ranks that entered no later collective after).
  std::string missing_ranks(int64_t number, bool all_arrived) const;
  void on_stall(const char* what, int64_t number, double waited, bool all_arrived);  // aborts once it is time
  [[noreturn]] void on_interrupt(const char* what, int64_t number, double waited, double since_interrupt,
                                 bool all_arrived);

  MPI_Comm census_;
  int rank_;
  int size_;
  double timeout_s_ = 300;
  const std::atomic<bool>* interrupt_ = nullptr;  // not owned
  int64_t interrupt_number_ = 0;  // the collective that last saw the flag set, and when it did
  double interrupt_seen_s_ = 0;
  double entered_s_ = 0;  // when the blocking collective arrive() let in was entered
  int64_t sequence_ = 0;         // collectives started; the current one's number
  std::deque<Report> reports_;   // rank ≠ 0: reports being sent (a deque keeps their addresses)
  std::vector<int64_t> arrived_; // rank 0: the latest number each rank reported
};

}  // namespace joule
