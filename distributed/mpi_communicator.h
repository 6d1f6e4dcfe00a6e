// The Communicator over MPI (built only when JOULE_HAVE_MPI; tested with Open MPI 4.1). Works
// under mpirun/mpiexec, under SLURM's srun, and as a singleton started without a launcher (size 1).
// This header includes no MPI header: the MPI handles live in the implementation file.
//
// Lifetime: the first MpiCommunicator of a process initialises MPI (MPI_THREAD_FUNNELED: only the
// constructing thread calls MPI) and finalises it in its destructor; when MPI was already
// initialised by someone else it neither initialises nor finalises. Collectives run on a private
// duplicate of MPI_COMM_WORLD whose error handler is MPI_ERRORS_RETURN, so MPI errors arrive as
// joule::Error (internal) naming the MPI call, the MPI error string and file:line.
//
// Stall watchdog (set_stall_timeout; mechanics in distributed/mpi_internal.h): every collective
// call gets a number (1, 2, … in call order, the same on every rank), and each rank ≠ 0 reports
// entering it to rank 0 with one 8-byte non-blocking message on a second private communicator.
// Every collective runs on MPI-3's non-blocking calls (MPI_Iallreduce, MPI_Ibcast, MPI_Iallgather,
// MPI_Iallgatherv; node_all_gather's on a shared-memory split of the job, still numbered on every
// rank), so no wait is ever unbounded: blocking collectives wait at an arrival gate
// (MPI_Ibarrier, polled: spinning for ~1 ms, then sleeping ≤ 1 ms between polls, so a rank
// waiting for a straggler leaves its core idle) and then poll their data requests without
// sleeping, both against one deadline; a request's wait() polls its all-reduce and a gate of its
// own the same way. A wait past the timeout on rank 0 prints "<program> (rank 0): error:
// all_reduce #N waited T s (distributed.stall_timeout_s = S); ranks not arrived: 1, 3 …" (or,
// when a rank froze after arriving: "every rank arrived; ranks not finished: 1 …") to stderr and
// calls MPI_Abort(MPI_COMM_WORLD, 1). Another rank that times out gives rank 0 a grace period (5 s)
// to do that, then says that rank 0 may be the stalled one and aborts likewise. With an interrupt
// flag (set_interrupt_flag), a wait still going 5 s after the flag was set ends the job with
// status 3. A rank that dies is the launcher's business (mpirun ends the job). Cost, 2 ranks on 1
// node: ~0.6 µs per collective for the census; MPI_Iallreduce's schedule adds ~3 µs to a small
// blocking all-reduce (1 KB) over MPI_Allreduce, nothing measurable from ~16 KB up.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/communicator.h"

namespace joule {

class MpiCommunicator final : public Communicator {
 public:
  // argc/argv as given to main (MPI may consume its own arguments); both may be null.
  MpiCommunicator(int* argc, char*** argv);
  ~MpiCommunicator() override;  // warns, never throws

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  const std::string& host() const override { return host_; }

  void all_reduce_sum(float* data, int64_t count) override;
  void all_reduce_sum(double* data, int64_t count) override;
  std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, int64_t count) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  std::vector<std::string> all_gather(const std::string& local) override;
  std::vector<double> node_all_gather(const double* local, int64_t count) override;  // MPI_COMM_TYPE_SHARED
  void barrier() override;
  void set_stall_timeout(double seconds) override;
  void set_interrupt_flag(const std::atomic<bool>* stop_requested) override;
  [[noreturn]] void abort(int exit_code) override;  // MPI_Abort(MPI_COMM_WORLD, exit_code)

  double stall_timeout() const;
  // The number of collectives this rank has started (the last one's number).
  int64_t collectives_started() const;
  // Rank 0: receives the arrival reports that are there and returns, for each rank, the number
  // of the latest collective it has reported entering (its own count for rank 0). Other ranks:
  // empty. For diagnostics and tests.
  std::vector<int64_t> arrivals();

  // The most elements (bytes for broadcast) one MPI call carries; counts beyond it are split into
  // several calls. INT_MAX by default (MPI counts are int); tests lower it to exercise the split.
  // Must be the same on all ranks.
  void set_max_chunk(int64_t elements);
  int64_t max_chunk() const { return max_chunk_; }

  struct Handles;  // MPI_Comm and friends, the watchdog's state (opaque: defined in the .cpp)

 private:
  std::unique_ptr<Handles> handles_;
  bool owns_mpi_ = false;  // this object called MPI_Init_thread and will call MPI_Finalize
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::string host_;
  int64_t max_chunk_;
};

}  // namespace joule
