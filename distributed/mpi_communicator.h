// The Communicator over MPI (built only when JOULE_HAVE_MPI; tested with Open MPI 4.1). Works
// under mpirun/mpiexec, under SLURM's srun, and as a singleton started without a launcher (size 1).
// This header includes no MPI header: the MPI handles live in the implementation file.
//
// Lifetime: the first MpiCommunicator of a process initialises MPI (MPI_THREAD_FUNNELED: only the
// constructing thread calls MPI) and finalises it in its destructor; when MPI was already
// initialised by someone else it neither initialises nor finalises. Collectives run on a private
// duplicate of MPI_COMM_WORLD whose error handler is MPI_ERRORS_RETURN, so MPI errors arrive as
// joule::Error (internal) naming the MPI call, the MPI error string and file:line.
#pragma once

#include <memory>

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
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;  // MPI_Abort(MPI_COMM_WORLD, exit_code)

  // The most elements (bytes for broadcast) one MPI call carries; counts beyond it are split into
  // several calls. INT_MAX by default (MPI counts are int); tests lower it to exercise the split.
  // Must be the same on all ranks.
  void set_max_chunk(int64_t elements);
  int64_t max_chunk() const { return max_chunk_; }

 private:
  struct Handles;  // MPI_Comm and friends
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
