// StallWatchdog (distributed/mpi_internal.h): the arrival census, the polled waits with a deadline
// and the report that ends a stalled job. Compiled only with MPI (JOULE_HAVE_MPI).
#include "core/build_info.h"
#if JOULE_HAVE_MPI

#include <errno.h>  // program_invocation_short_name

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/clock.h"
#include "energy/clock_actuator.h"
#include "distributed/mpi_internal.h"

namespace joule {
namespace {

// Waits shorter than this spin on MPI_Test (the first tenth of it without yielding): collectives
// of ranks in step finish within it, and sleeping would only add latency.
constexpr double kSpinSeconds = 1e-3;
constexpr double kMaxSleepSeconds = 1e-3;  // longest pause between two polls of a long wait

}  // namespace

StallWatchdog::StallWatchdog(MPI_Comm census, int rank, int size) : census_(census), rank_(rank), size_(size) {
  if (rank_ == 0) arrived_.assign(static_cast<size_t>(size_), 0);
}

int64_t StallWatchdog::enter() {
  ++sequence_;
  if (size_ == 1) return sequence_;
  if (rank_ == 0) {
    receive_reports();
  } else {
    complete_reports();
    reports_.push_back({sequence_, MPI_REQUEST_NULL});
    Report& report = reports_.back();
    JOULE_MPI_CHECK(MPI_Isend(&report.number, 1, MPI_INT64_T, 0, 0, census_, &report.request));
  }
  return sequence_;
}

void StallWatchdog::arrive(MPI_Comm comm, const char* what) {
  entered_s_ = monotonic_seconds();
  const int64_t number = enter();
  if (size_ == 1) return;
  MPI_Request gate = MPI_REQUEST_NULL;
  JOULE_MPI_CHECK(MPI_Ibarrier(comm, &gate));
  wait(&gate, 1, &gate, what, number, entered_s_);
}

void StallWatchdog::finish(MPI_Request* requests, int count, const char* what) {
  wait(requests, count, nullptr, what, sequence_, entered_s_);
}

void StallWatchdog::wait(MPI_Request* requests, int count, MPI_Request* gate, const char* what, int64_t number,
                         double since) {
  const double start = monotonic_seconds();
  if (since < 0) since = start;
  for (;;) {
    int done = 0;
    if (gate != nullptr) {
      JOULE_MPI_CHECK(MPI_Test(gate, &done, MPI_STATUS_IGNORE));  // a finished request becomes NULL
      if (done) gate = nullptr;
    }
    JOULE_MPI_CHECK(MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE));
    if (done) return;
    const double now = monotonic_seconds();
    if (now - start < kSpinSeconds) {
      if (now - start > 0.1 * kSpinSeconds) std::this_thread::yield();
      continue;
    }
    const double waited = now - since;
    if (rank_ == 0) receive_reports();
    if (waited > timeout_s_) on_stall(what, number, waited, gate == nullptr);
    if (interrupt_ != nullptr && interrupt_->load(std::memory_order_relaxed)) {
      if (interrupt_number_ != number) {
        interrupt_number_ = number;
        interrupt_seen_s_ = now;
      } else if (now - interrupt_seen_s_ > kInterruptGraceSeconds) {
        on_interrupt(what, number, waited, now - interrupt_seen_s_, gate == nullptr);
      }
    }
    if (gate == nullptr) {  // everyone is in: the data is moving, and moves only while we poll
      std::this_thread::yield();
      continue;
    }
    const double pause = std::clamp(0.02 * (now - start), 2e-5, kMaxSleepSeconds);
    std::this_thread::sleep_for(std::chrono::duration<double>(pause));
  }
}

std::vector<int64_t> StallWatchdog::arrivals() {
  if (rank_ != 0) return {};
  if (size_ > 1) receive_reports();
  std::vector<int64_t> result = size_ > 1 ? arrived_ : std::vector<int64_t>(1);
  result[0] = sequence_;
  return result;
}

void StallWatchdog::settle() {
  if (size_ == 1) return;
  const double deadline = monotonic_seconds() + 1.0;
  if (rank_ == 0) {
    auto all_in = [&] {
      return std::all_of(arrived_.begin() + 1, arrived_.end(), [&](int64_t n) { return n >= sequence_; });
    };
    while (!all_in() && monotonic_seconds() < deadline) receive_reports();
    return;
  }
  while (!reports_.empty() && monotonic_seconds() < deadline) complete_reports();
  if (!reports_.empty()) new std::deque<Report>(std::move(reports_));  // never completed: keep their buffers
}

void StallWatchdog::complete_reports() {
  while (!reports_.empty()) {
    int done = 0;
    JOULE_MPI_CHECK(MPI_Test(&reports_.front().request, &done, MPI_STATUS_IGNORE));
    if (!done) return;
    reports_.pop_front();
  }
}

void StallWatchdog::receive_reports() {
  for (;;) {
    int waiting = 0;
    MPI_Status status;
    JOULE_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, 0, census_, &waiting, &status));
    if (!waiting) return;
    int64_t number = 0;
    JOULE_MPI_CHECK(MPI_Recv(&number, 1, MPI_INT64_T, status.MPI_SOURCE, 0, census_, MPI_STATUS_IGNORE));
    arrived_[status.MPI_SOURCE] = std::max(arrived_[status.MPI_SOURCE], number);
  }
}

std::string StallWatchdog::missing_ranks(int64_t number, bool all_arrived) const {
  std::string missing, last;
  for (int r = 1; r < size_; ++r) {
    if (all_arrived ? arrived_[r] > number : arrived_[r] >= number) continue;
    missing += detail::concat(missing.empty() ? "" : ", ", r);
    last += detail::concat(last.empty() ? "" : ", ", arrived_[r] > 0 ? "#" + std::to_string(arrived_[r]) : "none");
  }
  if (all_arrived)
    return "every rank arrived; ranks not finished: " +
           (missing.empty() ? std::string("none (every other rank has entered a later collective; rank 0 may be "
                                          "hung inside MPI)")
                            : missing + " (they entered no later collective: one of them is stuck inside it)");
  return "ranks not arrived: " +
         (missing.empty() ? std::string("none (every rank entered it; one may have died or hung inside MPI)")
                          : missing + " (the last collective they entered: " + last + ")");
}

void StallWatchdog::on_stall(const char* what, int64_t number, double waited, bool all_arrived) {
  const char* program = program_invocation_short_name;
  if (rank_ == 0) {
    std::fprintf(stderr, "%s (rank 0): error: %s #%lld waited %.1f s (distributed.stall_timeout_s = %g); %s; aborting "
                 "the job\n",
                 program, what, static_cast<long long>(number), waited, timeout_s_,
                 missing_ranks(number, all_arrived).c_str());
  } else {
    if (waited < timeout_s_ + kGraceSeconds) return;
    std::fprintf(stderr,
                 "%s (rank %d): error: %s #%lld waited %.1f s (distributed.stall_timeout_s = %g, then %g s for rank 0 "
                 "to end the job); rank 0, which names the ranks that did not arrive, has not ended the job: rank 0 "
                 "may be the stalled one; aborting the job\n",
                 program, rank_, what, static_cast<long long>(number), waited, timeout_s_, kGraceSeconds);
  }
  std::fflush(nullptr);
  energy::reset_clocks_emergency();  // no destructor runs past MPI_Abort: clocks first
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);  // MPI_Abort does not return
}

void StallWatchdog::on_interrupt(const char* what, int64_t number, double waited, double since_interrupt,
                                 bool all_arrived) {
  const std::string who = rank_ == 0 ? missing_ranks(number, all_arrived)
                                     : std::string("rank 0 knows which ranks are missing, but may be one of them");
  std::fprintf(stderr,
               "%s (rank %d): error: interrupted (SIGINT/SIGTERM) while ranks were missing: %s #%lld still waited "
               "%.1f s after the interrupt (%.1f s in all); %s; aborting the job (exit status %d)\n",
               program_invocation_short_name, rank_, what, static_cast<long long>(number), since_interrupt, waited,
               who.c_str(), kInterruptExitStatus);
  std::fflush(nullptr);
  // Open MPI's mpirun exits with the error code of the first MPI_Abort
  energy::reset_clocks_emergency();  // no destructor runs past MPI_Abort: clocks first
  MPI_Abort(MPI_COMM_WORLD, kInterruptExitStatus);
  std::_Exit(kInterruptExitStatus);  // MPI_Abort does not return
}

}  // namespace joule

#endif  // JOULE_HAVE_MPI
