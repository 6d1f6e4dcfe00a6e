// MpiCommunicator: MPI setup (init, private communicators, the node's ranks, host name), the
// collectives with counts split into int-sized chunks, all of them non-blocking MPI-3 calls whose
// waits the stall watchdog watches (distributed/mpi_internal.h), and MPI error checking.
#include "energy/clock_actuator.h"
#include "distributed/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "distributed/fault_injection.h"
#include "distributed/mpi_internal.h"

namespace joule {

struct MpiCommunicator::Handles {
  MPI_Comm comm = MPI_COMM_NULL;    // private duplicate of MPI_COMM_WORLD, errors return
  MPI_Comm census = MPI_COMM_NULL;  // another one, for the watchdog's arrival reports only
  MPI_Comm node = MPI_COMM_NULL;    // comm split by shared memory: this node's ranks, by rank
  std::thread::id thread;           // the only thread allowed to call MPI (MPI_THREAD_FUNNELED)
  int rank = 0;
  std::unique_ptr<StallWatchdog> watchdog;

  void check_thread(const char* what) const {
    JOULE_ASSERT(std::this_thread::get_id() == thread, what,
                 ": called from a thread other than the one that created the MpiCommunicator");
  }
  // Blocking collectives that move data start here: every rank has arrived when it returns (and
  // JOULE_FAULT=stop may freeze this rank right then).
  void arrive(const char* what) {
    check_thread(what);
    watchdog->arrive(comm, what);
    inject_armed_fault(rank, what);
  }
  // The same for node-local collectives: numbered on every rank of the job, gated among the node's.
  void arrive_node(const char* what) {
    check_thread(what);
    watchdog->arrive(node, what);
    inject_armed_fault(rank, what);
  }
  // ... and end here, once their non-blocking requests are started: watched against the deadline
  // counted from arrive().
  void finish(std::vector<MPI_Request>& requests, const char* what) {
    watchdog->finish(requests.data(), static_cast<int>(requests.size()), what);
  }
};

namespace {

void check_buffer(const void* data, int64_t count, const char* what) {
  JOULE_CHECK(count >= 0, what, ": count ", count, " is negative");
  JOULE_CHECK(data != nullptr || count == 0, what, ": null buffer for ", count, " elements");
}

// Starts one request per chunk [offset, offset+n) of [0, count), n ≤ max_chunk, through
// start(offset, n, &request); room is left for `extra` more. If a start fails, waits for those
// already started (MPI owns their buffers until then) and rethrows.
template <class Start>
std::vector<MPI_Request> start_chunks(int64_t count, int64_t max_chunk, Start&& start, size_t extra = 0) {
  std::vector<MPI_Request> requests;
  requests.reserve(static_cast<size_t>((count + max_chunk - 1) / max_chunk) + extra);
  try {
    for (int64_t offset = 0; offset < count; offset += max_chunk) {
      requests.push_back(MPI_REQUEST_NULL);
      start(offset, static_cast<int>(std::min(max_chunk, count - offset)), &requests.back());
    }
  } catch (...) {
    if (!requests.empty()) MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    throw;
  }
  return requests;
}

// Open MPI runs an in-place MPI_Iallreduce with the libnbc algorithm the constructor selects.
template <class T>
void all_reduce_sum_blocking(MpiCommunicator::Handles& handles, MPI_Datatype type, T* data, int64_t count,
                             int64_t max_chunk) {
  handles.arrive("all_reduce");
  std::vector<MPI_Request> requests = start_chunks(count, max_chunk, [&](int64_t offset, int n, MPI_Request* r) {
    JOULE_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data + offset, n, type, MPI_SUM, handles.comm, r));
  });
  handles.finish(requests, "all_reduce");
}

// One MPI request per chunk, all started at once, then an arrival gate (when there is data and
// another rank); wait() is watched like a blocking collective.
class MpiRequest final : public CommRequest {
 public:
  MpiRequest(MpiCommunicator::Handles& handles, int64_t number, std::vector<MPI_Request> requests, bool gated)
      : handles_(handles), number_(number), requests_(std::move(requests)), gated_(gated) {
    done_ = requests_.empty();
  }
  ~MpiRequest() override {
    if (done_) return;
    std::fprintf(stderr, "joule: warning: destroying an unfinished all-reduce request; waiting for it\n");
    try {
      wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "joule: warning: %s\n", e.what());
    }
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    JOULE_MPI_CHECK(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE));
    done_ = flag != 0;
    return done_;
  }
  void wait() override {
    if (done_) return;
    handles_.check_thread("CommRequest::wait");
    MPI_Request* gate = gated_ ? &requests_.back() : nullptr;
    handles_.watchdog->wait(requests_.data(), static_cast<int>(requests_.size()), gate, "all_reduce_async", number_);
    done_ = true;
  }

 private:
  MpiCommunicator::Handles& handles_;
  int64_t number_;
  std::vector<MPI_Request> requests_;
  bool gated_;
  bool done_ = false;
};

}  // namespace

// Under LeakSanitizer (scripts/test.sh --sanitize=address): what Open MPI allocates inside its
// initialization and finalization it keeps until exit, partly in components it has unloaded by
// then (no module name a suppression could match). Those calls are not checked for leaks; every
// other allocation, joule's own, is.
#if defined(__SANITIZE_ADDRESS__)
#define JOULE_NOT_LEAK_CHECKED __lsan::ScopedDisabler not_leak_checked_
#else
#define JOULE_NOT_LEAK_CHECKED
#endif

MpiCommunicator::MpiCommunicator(int* argc, char*** argv)
    : handles_(std::make_unique<Handles>()), max_chunk_(INT_MAX) {
  handles_->thread = std::this_thread::get_id();
  int initialized = 0;
  int finalized = 0;
  JOULE_MPI_CHECK(MPI_Initialized(&initialized));
  JOULE_MPI_CHECK(MPI_Finalized(&finalized));
  JOULE_ASSERT(!finalized, "MPI was finalized already and cannot be initialised again");
  if (!initialized) {
    // Open MPI 4.1's libnbc runs an in-place non-blocking all-reduce (every all-reduce here) as
    // binomial reduce + broadcast by default: about half MPI_Allreduce's bandwidth on 2 ranks.
    // Algorithm 3 (reduce-scatter + all-gather) matches it. A user's own setting wins (no overwrite).
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
    int provided = 0;
    {
      JOULE_NOT_LEAK_CHECKED;
      JOULE_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    }
    owns_mpi_ = true;
    if (provided < MPI_THREAD_FUNNELED)
      std::fprintf(stderr, "joule: warning: MPI provides thread level %d, below MPI_THREAD_FUNNELED\n", provided);
  }
  // From here on the destructor does not run if we throw: free what exists before rethrowing.
  try {
    JOULE_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &handles_->comm));
    JOULE_MPI_CHECK(MPI_Comm_set_errhandler(handles_->comm, MPI_ERRORS_RETURN));
    JOULE_MPI_CHECK(MPI_Comm_rank(handles_->comm, &rank_));
    JOULE_MPI_CHECK(MPI_Comm_size(handles_->comm, &size_));
    handles_->rank = rank_;
    JOULE_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &handles_->census));
    JOULE_MPI_CHECK(MPI_Comm_set_errhandler(handles_->census, MPI_ERRORS_RETURN));
    handles_->watchdog = std::make_unique<StallWatchdog>(handles_->census, rank_, size_);

    // the ranks that share memory with this one, ordered by rank (errors return, as on comm)
    JOULE_MPI_CHECK(
        MPI_Comm_split_type(handles_->comm, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &handles_->node));
    JOULE_MPI_CHECK(MPI_Comm_set_errhandler(handles_->node, MPI_ERRORS_RETURN));
    JOULE_MPI_CHECK(MPI_Comm_rank(handles_->node, &local_rank_));
    JOULE_MPI_CHECK(MPI_Comm_size(handles_->node, &local_size_));

    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int length = 0;
    JOULE_MPI_CHECK(MPI_Get_processor_name(name, &length));
    host_.assign(name, static_cast<size_t>(length));
  } catch (...) {
    if (handles_->node != MPI_COMM_NULL) MPI_Comm_free(&handles_->node);
    if (handles_->census != MPI_COMM_NULL) MPI_Comm_free(&handles_->census);
    if (handles_->comm != MPI_COMM_NULL) MPI_Comm_free(&handles_->comm);
    if (owns_mpi_) MPI_Finalize();
    throw;
  }
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) {
    if (owns_mpi_) std::fprintf(stderr, "joule: warning: MPI was finalized before the MpiCommunicator that owns it\n");
    return;
  }
  try {
    handles_->watchdog->settle();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "joule: warning: %s\n", e.what());
  }
  if (handles_->node != MPI_COMM_NULL) JOULE_MPI_WARN(MPI_Comm_free(&handles_->node));
  if (handles_->census != MPI_COMM_NULL) JOULE_MPI_WARN(MPI_Comm_free(&handles_->census));
  if (handles_->comm != MPI_COMM_NULL) JOULE_MPI_WARN(MPI_Comm_free(&handles_->comm));
  if (owns_mpi_) {
    JOULE_NOT_LEAK_CHECKED;
    JOULE_MPI_WARN(MPI_Finalize());
  }
}

void MpiCommunicator::set_max_chunk(int64_t elements) {
  JOULE_CHECK(elements >= 1 && elements <= INT_MAX, "set_max_chunk: ", elements, " is outside [1, ", INT_MAX, "]");
  max_chunk_ = elements;
}

void MpiCommunicator::set_stall_timeout(double seconds) {
  JOULE_CHECK(seconds > 0, "stall timeout ", seconds, " s (distributed.stall_timeout_s): expected > 0");
  handles_->watchdog->set_timeout(seconds);
}

void MpiCommunicator::set_interrupt_flag(const std::atomic<bool>* stop_requested) {
  handles_->watchdog->set_interrupt_flag(stop_requested);
}

double MpiCommunicator::stall_timeout() const { return handles_->watchdog->timeout(); }

int64_t MpiCommunicator::collectives_started() const { return handles_->watchdog->collectives_started(); }

std::vector<int64_t> MpiCommunicator::arrivals() {
  handles_->check_thread("arrivals");
  return handles_->watchdog->arrivals();
}

void MpiCommunicator::all_reduce_sum(float* data, int64_t count) {
  check_buffer(data, count, "all_reduce_sum");
  all_reduce_sum_blocking(*handles_, MPI_FLOAT, data, count, max_chunk_);
}

void MpiCommunicator::all_reduce_sum(double* data, int64_t count) {
  check_buffer(data, count, "all_reduce_sum");
  all_reduce_sum_blocking(*handles_, MPI_DOUBLE, data, count, max_chunk_);
}

std::unique_ptr<CommRequest> MpiCommunicator::all_reduce_sum_async(float* data, int64_t count) {
  check_buffer(data, count, "all_reduce_sum_async");
  handles_->check_thread("all_reduce_sum_async");
  const int64_t number = handles_->watchdog->enter();
  const bool gated = count > 0 && size_ > 1;
  std::vector<MPI_Request> requests = start_chunks(
      count, max_chunk_,
      [&](int64_t offset, int n, MPI_Request* r) {
        JOULE_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data + offset, n, MPI_FLOAT, MPI_SUM, handles_->comm, r));
      },
      /*extra=*/1);
  if (gated) {
    requests.push_back(MPI_REQUEST_NULL);
    try {
      JOULE_MPI_CHECK(MPI_Ibarrier(handles_->comm, &requests.back()));
    } catch (...) {
      MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);  // the gate's is null
      throw;
    }
  }
  return std::make_unique<MpiRequest>(*handles_, number, std::move(requests), gated);
}

void MpiCommunicator::broadcast(void* data, int64_t bytes, int root) {
  check_buffer(data, bytes, "broadcast");
  JOULE_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of a job of size ", size_);
  handles_->arrive("broadcast");
  char* bytes_at = static_cast<char*>(data);
  std::vector<MPI_Request> requests = start_chunks(bytes, max_chunk_, [&](int64_t offset, int n, MPI_Request* r) {
    JOULE_MPI_CHECK(MPI_Ibcast(bytes_at + offset, n, MPI_BYTE, root, handles_->comm, r));
  });
  handles_->finish(requests, "broadcast");
}

std::vector<std::string> MpiCommunicator::all_gather(const std::string& local) {
  handles_->arrive("all_gather");
  // Lengths first (64-bit, so a too-long string is caught on every rank alike), then the bytes.
  const int64_t length = static_cast<int64_t>(local.size());
  std::vector<int64_t> lengths(static_cast<size_t>(size_));
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  JOULE_MPI_CHECK(MPI_Iallgather(&length, 1, MPI_INT64_T, lengths.data(), 1, MPI_INT64_T, handles_->comm,
                                 &requests[0]));
  handles_->finish(requests, "all_gather");
  std::vector<int> counts(static_cast<size_t>(size_));
  std::vector<int> offsets(static_cast<size_t>(size_));
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[r] = static_cast<int>(total);
    counts[r] = static_cast<int>(lengths[r]);
    total += lengths[r];
    JOULE_CHECK(total <= INT_MAX, "all_gather: ", total, "+ bytes over all ranks exceed the ", INT_MAX,
                " MPI_Allgatherv carries");
  }
  std::vector<char> gathered(static_cast<size_t>(std::max<int64_t>(total, 1)));
  JOULE_MPI_CHECK(MPI_Iallgatherv(local.data(), static_cast<int>(length), MPI_CHAR, gathered.data(), counts.data(),
                                  offsets.data(), MPI_CHAR, handles_->comm, &requests[0]));
  handles_->finish(requests, "all_gather");
  std::vector<std::string> result;
  result.reserve(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) result.emplace_back(gathered.data() + offsets[r], static_cast<size_t>(counts[r]));
  return result;
}

// Numbered and gated like every collective (the census counts it on every rank of the job), but
// the gate and the data are on the node communicator. Chunk c, local [o, o+n), lands as local_size_
// blocks of n at gathered[o·local_size_]; the blocks are then put in local-rank order.
std::vector<double> MpiCommunicator::node_all_gather(const double* local, int64_t count) {
  check_buffer(local, count, "node_all_gather");
  handles_->arrive_node("node_all_gather");
  const int64_t ranks = local_size_;
  std::vector<double> gathered(static_cast<size_t>(count * ranks));
  std::vector<MPI_Request> requests = start_chunks(count, max_chunk_, [&](int64_t offset, int n, MPI_Request* r) {
    JOULE_MPI_CHECK(MPI_Iallgather(local + offset, n, MPI_DOUBLE, gathered.data() + offset * ranks, n, MPI_DOUBLE,
                                   handles_->node, r));
  });
  handles_->finish(requests, "node_all_gather");
  std::vector<double> result(gathered.size());
  for (int64_t offset = 0; offset < count; offset += max_chunk_) {
    const int64_t n = std::min(max_chunk_, count - offset);
    for (int64_t l = 0; l < ranks; ++l)
      std::copy_n(gathered.begin() + offset * ranks + l * n, n, result.begin() + l * count + offset);
  }
  return result;
}

void MpiCommunicator::barrier() {
  handles_->check_thread("barrier");
  handles_->watchdog->arrive(handles_->comm, "barrier");  // the arrival gate is a barrier
}

void MpiCommunicator::abort(int exit_code) {
  std::fflush(nullptr);
  energy::reset_clocks_emergency();  // no destructor runs past MPI_Abort: clocks first
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this keeps [[noreturn]] true if it did
}

}  // namespace joule
