// The Communicator: the ranks of a data-parallel job and the collectives the Trainer needs
// (all-reduce, broadcast, all-gather, a node-local all-gather, barrier, abort, a stall watchdog).
// Implementations: MpiCommunicator (Open MPI, distributed/mpi_communicator.h), LocalCommunicator
// below (one rank, no MPI); NCCL arrives with the CUDA backend behind this same interface.
// make_communicator() picks one.
//
// Invariants for every collective: all ranks call it, in the same order, with the same count,
// byte size and root (mismatches hang or fail inside the backend); data are host pointers; counts
// are elements and sizes bytes, both 64-bit (an implementation splits what its backend cannot
// carry in one call). Calls come from the thread that created the communicator.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"

namespace joule {

// A non-blocking collective in flight. The buffer it was started on belongs to the operation until
// test() has returned true or wait() has returned: neither read nor write it before. A request
// must be completed before its communicator is destroyed; destroying an unfinished one waits.
class CommRequest {
 public:
  virtual ~CommRequest() = default;
  virtual bool test() = 0;  // drives progress; true once done (and on every call after that)
  virtual void wait() = 0;  // blocks until done; returns at once when already done
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;        // 0 .. size()-1
  virtual int size() const = 0;        // number of ranks in the job
  virtual int local_rank() const = 0;  // 0 .. local_size()-1 among the ranks sharing this node
  virtual int local_size() const = 0;  // ranks sharing this node's memory
  virtual const std::string& host() const = 0;  // this node's name

  // In place: data[0..count) becomes the element-wise sum over all ranks. count ≥ 0.
  virtual void all_reduce_sum(float* data, int64_t count) = 0;
  virtual void all_reduce_sum(double* data, int64_t count) = 0;
  // Same result as the blocking float version (up to the order of summation), started now and
  // finished through the returned request; overlaps with computation that leaves data alone.
  virtual std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, int64_t count) = 0;

  // data[0..bytes) of rank `root` is copied into data[0..bytes) of every other rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Every rank's `local` (any length, may be empty, may hold '\0'), indexed by rank.
  virtual std::vector<std::string> all_gather(const std::string& local) = 0;
  // The ranks of this node (those sharing its memory, local_size() of them) exchange
  // local[0..count): returns local_size()·count doubles, local rank l's at [l·count, (l+1)·count).
  // Collective over the whole job like the others (every rank calls it at the same point, same
  // count on every rank, numbered and watched alike), but data move only within each node.
  virtual std::vector<double> node_all_gather(const double* local, int64_t count) = 0;
  virtual void barrier() = 0;
  // Stall watchdog: a blocking collective, or a request's wait(), that waits longer than `seconds`
  // for the other ranks ends the whole job with exit status 1 after printing which ranks had not
  // arrived (distributed.stall_timeout_s; MpiCommunicator's default is 300). seconds > 0
  // (+infinity: never). Set it alike on every rank. LocalCommunicator has nothing to wait for.
  virtual void set_stall_timeout(double seconds) = 0;
  // A flag that a SIGINT/SIGTERM handler sets (not owned; outlives the communicator; null: none).
  // A collective that is still waiting for other ranks 5 s after it sees the flag set ends the
  // whole job with exit status 3, naming the collective (ranks merely a step behind finish within
  // that grace, so the caller can still stop cleanly); a rank blocked by a frozen one thus still
  // obeys the signal. Not pure: a communicator that never waits (LocalCommunicator, test doubles)
  // has nothing to interrupt and ignores it.
  virtual void set_interrupt_flag(const std::atomic<bool>* stop_requested) { (void)stop_requested; }
  // Ends every rank of the job with exit_code (no destructors run); for fatal errors on one rank.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

// One rank and no MPI: the collectives are identities, so single-process code paths need no
// special cases. Used by builds without MPI and by unit tests.
class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator() : host_(host_name()) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  const std::string& host() const override { return host_; }

  void all_reduce_sum(float* data, int64_t count) override { check_buffer(data, count, "all_reduce_sum"); }
  void all_reduce_sum(double* data, int64_t count) override { check_buffer(data, count, "all_reduce_sum"); }
  std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, int64_t count) override {
    check_buffer(data, count, "all_reduce_sum_async");
    return std::make_unique<DoneRequest>();
  }
  void broadcast(void* data, int64_t bytes, int root) override {
    check_buffer(data, bytes, "broadcast");
    JOULE_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a job of size 1");
  }
  std::vector<std::string> all_gather(const std::string& local) override { return {local}; }
  std::vector<double> node_all_gather(const double* local, int64_t count) override {
    check_buffer(local, count, "node_all_gather");
    return std::vector<double>(local, local + count);
  }
  void barrier() override {}
  void set_stall_timeout(double seconds) override {
    JOULE_CHECK(seconds > 0, "stall timeout ", seconds, " s (distributed.stall_timeout_s): expected > 0");
  }
  void set_interrupt_flag(const std::atomic<bool>*) override {}  // never waits: nothing to interrupt
  [[noreturn]] void abort(int exit_code) override {
    std::fflush(nullptr);
    std::_Exit(exit_code);
  }

 private:
  class DoneRequest final : public CommRequest {
   public:
    bool test() override { return true; }
    void wait() override {}
  };
  static void check_buffer(const void* data, int64_t count, const char* what) {
    JOULE_CHECK(count >= 0, what, ": count ", count, " is negative");
    JOULE_CHECK(data != nullptr || count == 0, what, ": null buffer for ", count, " elements");
  }

  std::string host_;
};

}  // namespace joule
