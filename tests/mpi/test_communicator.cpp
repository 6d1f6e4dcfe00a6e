// The Communicator under mpirun (2 and 4 ranks) and as a singleton: rank bookkeeping, all-reduce
// (blocking, non-blocking, chunked), broadcast, all-gather, the node-local all-gather, barrier,
// argument checks, the stall watchdog's census and its patience with late ranks, also once
// interrupted (its firing, and the interrupt's, are tested end to end by
// tests/test_mpi_failures.cpp: they end the job).
// Values are small integers wherever results are compared exactly, so sums are exact in float and
// independent of the order MPI adds in.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "distributed/mpi_communicator.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::test_communicator;

// n(n+1)/2: the sum over ranks of (rank + 1).
double rank_sum(const Communicator& comm) { return comm.size() * (comm.size() + 1) / 2.0; }

// Per-rank values v(rank, i) = (rank + 1) * (i % 13): the sum over ranks is rank_sum * (i % 13).
template <class T>
std::vector<T> rank_values(const Communicator& comm, int64_t count) {
  std::vector<T> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[i] = static_cast<T>((comm.rank() + 1) * (i % 13));
  return values;
}

template <class T>
void expect_rank_sums(const Communicator& comm, const std::vector<T>& values) {
  int64_t wrong = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i] != static_cast<T>(rank_sum(comm) * (i % 13)) && wrong++ < 5)
      ADD_FAILURE() << "element " << i << ": " << values[i] << ", expected " << rank_sum(comm) * (i % 13);
  EXPECT_EQ(wrong, 0) << "wrong elements of " << values.size();
}

TEST(Communicator, RanksAreZeroToSizeMinusOne) {
  Communicator& comm = test_communicator();
  ASSERT_GE(comm.size(), 1);
  EXPECT_GE(comm.rank(), 0);
  EXPECT_LT(comm.rank(), comm.size());
  const std::vector<std::string> ranks = comm.all_gather(std::to_string(comm.rank()));
  const std::vector<std::string> sizes = comm.all_gather(std::to_string(comm.size()));
  ASSERT_EQ(ranks.size(), static_cast<size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) {
    EXPECT_EQ(ranks[r], std::to_string(r));
    EXPECT_EQ(sizes[r], std::to_string(comm.size()));
  }
}

// Local ranks number the ranks of one host in the order of their global ranks; on one host
// (mpirun here) they are the global rank and size.
TEST(Communicator, LocalRanksFollowHosts) {
  Communicator& comm = test_communicator();
  EXPECT_FALSE(comm.host().empty());
  const std::vector<std::string> hosts = comm.all_gather(comm.host());
  int below = 0;
  int same = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (hosts[r] != comm.host()) continue;
    ++same;
    if (r < comm.rank()) ++below;
  }
  EXPECT_EQ(comm.local_rank(), below);
  EXPECT_EQ(comm.local_size(), same);
  if (same == comm.size()) {
    EXPECT_EQ(comm.local_rank(), comm.rank());
    EXPECT_EQ(comm.local_size(), comm.size());
  }
}

TEST(Communicator, AllReduceSumFloat) {
  Communicator& comm = test_communicator();
  std::vector<float> values = rank_values<float>(comm, 1000);
  comm.all_reduce_sum(values.data(), static_cast<int64_t>(values.size()));
  expect_rank_sums(comm, values);
}

TEST(Communicator, AllReduceSumDouble) {
  Communicator& comm = test_communicator();
  std::vector<double> values = rank_values<double>(comm, 1000);
  comm.all_reduce_sum(values.data(), static_cast<int64_t>(values.size()));
  expect_rank_sums(comm, values);
  double fraction = 0.25 * (comm.rank() + 1);  // exact in binary
  comm.all_reduce_sum(&fraction, 1);
  EXPECT_EQ(fraction, 0.25 * rank_sum(comm));
}

TEST(Communicator, AllReduceSumMoreThanAMillion) {
  Communicator& comm = test_communicator();
  const int64_t count = (int64_t{1} << 20) + 12345;
  std::vector<float> values = rank_values<float>(comm, count);
  comm.all_reduce_sum(values.data(), count);
  expect_rank_sums(comm, values);
}

TEST(Communicator, AllReduceSumOfNothing) {
  Communicator& comm = test_communicator();
  float untouched = 42.0f;
  comm.all_reduce_sum(&untouched, 0);
  comm.all_reduce_sum(static_cast<float*>(nullptr), 0);
  comm.all_reduce_sum(static_cast<double*>(nullptr), 0);
  auto request = comm.all_reduce_sum_async(&untouched, 0);
  EXPECT_TRUE(request->test());
  request->wait();
  EXPECT_EQ(untouched, 42.0f);
}

// Gradients are all-reduced and then applied on every rank: the ranks must get identical bits.
TEST(Communicator, AllReduceGivesEveryRankTheSameBits) {
  Communicator& comm = test_communicator();
  std::mt19937 rng(1234u + static_cast<unsigned>(comm.rank()));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(300000);
  for (float& v : values) v = normal(rng);
  std::vector<float> async_values = values;
  comm.all_reduce_sum(values.data(), static_cast<int64_t>(values.size()));
  comm.all_reduce_sum_async(async_values.data(), static_cast<int64_t>(async_values.size()))->wait();
  const std::string bytes(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  const std::string async_bytes(reinterpret_cast<const char*>(async_values.data()), values.size() * sizeof(float));
  const std::vector<std::string> all = comm.all_gather(bytes);
  const std::vector<std::string> all_async = comm.all_gather(async_bytes);
  for (int r = 1; r < comm.size(); ++r) {
    EXPECT_TRUE(all[r] == all[0]) << "blocking result of rank " << r << " differs from rank 0's";
    EXPECT_TRUE(all_async[r] == all_async[0]) << "non-blocking result of rank " << r << " differs from rank 0's";
  }
}

TEST(Communicator, AsyncAllReduceCompletesThroughTest) {
  Communicator& comm = test_communicator();
  const int64_t count = 200000;
  std::vector<float> blocking = rank_values<float>(comm, count);
  std::vector<float> async = blocking;
  comm.all_reduce_sum(blocking.data(), count);
  auto request = comm.all_reduce_sum_async(async.data(), count);
  int64_t polls = 0;
  while (!request->test()) ++polls;  // test() must drive progress on its own
  EXPECT_TRUE(request->test());      // stays done
  request->wait();                   // and wait() on a finished request returns at once
  EXPECT_EQ(async, blocking) << "after " << polls << " polls";
}

TEST(Communicator, AsyncAllReduceCompletesThroughWait) {
  Communicator& comm = test_communicator();
  const int64_t count = 5000;
  std::vector<float> blocking = rank_values<float>(comm, count);
  comm.all_reduce_sum(blocking.data(), count);
  // several in flight at once, finished in another order than they were started
  std::vector<std::vector<float>> buffers(3, rank_values<float>(comm, count));
  std::vector<std::unique_ptr<CommRequest>> requests;
  for (auto& buffer : buffers) requests.push_back(comm.all_reduce_sum_async(buffer.data(), count));
  for (size_t i = requests.size(); i-- > 0;) requests[i]->wait();
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_EQ(buffers[i], blocking) << "buffer " << i;
}

void expect_broadcast_from(Communicator& comm, int root) {
  std::vector<unsigned char> data(1000, 0xEE);
  if (comm.rank() == root)
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7 + root);
  comm.broadcast(data.data(), static_cast<int64_t>(data.size()), root);
  size_t wrong = 0;
  for (size_t i = 0; i < data.size(); ++i) wrong += data[i] != static_cast<unsigned char>(i * 7 + root);
  EXPECT_EQ(wrong, 0u) << "root " << root << ", rank " << comm.rank();
}

TEST(Communicator, BroadcastFromFirstRank) { expect_broadcast_from(test_communicator(), 0); }

TEST(Communicator, BroadcastFromLastRank) {
  Communicator& comm = test_communicator();
  expect_broadcast_from(comm, comm.size() - 1);
  int64_t nothing = 7;
  comm.broadcast(&nothing, 0, comm.size() - 1);
  EXPECT_EQ(nothing, 7);
}

TEST(Communicator, AllGatherStringsOfDifferentLengths) {
  Communicator& comm = test_communicator();
  // rank 0 sends "", rank r sends 3r bytes with a '\0' inside
  auto text_of = [](int r) {
    std::string text(static_cast<size_t>(3 * r), static_cast<char>('a' + r % 26));
    if (!text.empty()) text[text.size() / 2] = '\0';
    return text;
  };
  const std::vector<std::string> all = comm.all_gather(text_of(comm.rank()));
  ASSERT_EQ(all.size(), static_cast<size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) EXPECT_EQ(all[r], text_of(r)) << "from rank " << r;

  const std::vector<std::string> empty = comm.all_gather("");
  EXPECT_EQ(empty, std::vector<std::string>(static_cast<size_t>(comm.size())));
}

// Each node's ranks get each other's values, in local-rank order (on one host: all ranks); the
// census counts the call on every rank like any collective.
TEST(Communicator, NodeAllGatherExchangesWithinTheNode) {
  Communicator& comm = test_communicator();
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm);
  const int64_t before = mpi != nullptr ? mpi->collectives_started() : 0;
  const std::vector<double> mine = {comm.rank() + 0.5, -1.0 * comm.local_rank(), 1e300};
  const std::vector<double> all = comm.node_all_gather(mine.data(), 3);
  if (mpi != nullptr) {
    EXPECT_EQ(mpi->collectives_started(), before + 1);
  }
  // the global ranks of this node, by local rank
  const std::vector<std::string> hosts = comm.all_gather(comm.host());
  std::vector<int> node_ranks;
  for (int r = 0; r < comm.size(); ++r)
    if (hosts[r] == comm.host()) node_ranks.push_back(r);
  ASSERT_EQ(all.size(), 3 * node_ranks.size());
  for (size_t l = 0; l < node_ranks.size(); ++l) {
    EXPECT_EQ(all[3 * l], node_ranks[l] + 0.5) << "local rank " << l;
    EXPECT_EQ(all[3 * l + 1], -1.0 * static_cast<double>(l)) << "local rank " << l;
    EXPECT_EQ(all[3 * l + 2], 1e300) << "local rank " << l;
  }
  EXPECT_TRUE(comm.node_all_gather(nullptr, 0).empty());
  expect_invalid_input([&] { comm.node_all_gather(mine.data(), -1); }, {"node_all_gather", "negative"});
  comm.barrier();
}

// Rank 0 creates a file before the barrier; after it, every rank on rank 0's host sees the file.
TEST(Communicator, BarrierOrdersWhatHappensAroundIt) {
  Communicator& comm = test_communicator();
  int64_t token = getpid();
  comm.broadcast(&token, sizeof(token), 0);
  const std::string path = "/tmp/joule_barrier_test_" + std::to_string(token);
  const std::vector<std::string> hosts = comm.all_gather(comm.host());
  if (comm.rank() == 0) {
    std::FILE* file = std::fopen(path.c_str(), "w");
    EXPECT_NE(file, nullptr) << path;
    if (file) std::fclose(file);
  }
  comm.barrier();
  if (hosts[0] == comm.host()) {
    EXPECT_EQ(access(path.c_str(), F_OK), 0) << path << " on rank " << comm.rank();
  }
  comm.barrier();
  if (comm.rank() == 0) std::remove(path.c_str());
  comm.barrier();
}

// Larger counts than one MPI call carries are split; here with a small limit.
TEST(Communicator, ChunkedCollectives) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&test_communicator());
  if (mpi == nullptr) GTEST_SKIP() << "not an MpiCommunicator";
  const int64_t saved = mpi->max_chunk();
  mpi->set_max_chunk(1000);
  const int64_t count = 2500;  // two full chunks and a partial one

  std::vector<float> floats = rank_values<float>(*mpi, count);
  mpi->all_reduce_sum(floats.data(), count);
  expect_rank_sums(*mpi, floats);
  std::vector<double> doubles = rank_values<double>(*mpi, count);
  mpi->all_reduce_sum(doubles.data(), count);
  expect_rank_sums(*mpi, doubles);
  std::vector<float> async = rank_values<float>(*mpi, count);
  auto request = mpi->all_reduce_sum_async(async.data(), count);
  while (!request->test()) {
  }
  expect_rank_sums(*mpi, async);

  std::vector<char> bytes(static_cast<size_t>(count), 'x');
  if (mpi->rank() == mpi->size() - 1)
    for (int64_t i = 0; i < count; ++i) bytes[i] = static_cast<char>(i % 251);
  mpi->broadcast(bytes.data(), count, mpi->size() - 1);
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; ++i) wrong += bytes[i] != static_cast<char>(i % 251);
  EXPECT_EQ(wrong, 0);

  std::vector<double> local(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) local[i] = mpi->local_rank() * 10000.0 + static_cast<double>(i);
  const std::vector<double> node = mpi->node_all_gather(local.data(), count);
  EXPECT_EQ(node.size(), static_cast<size_t>(count * mpi->local_size()));
  wrong = 0;
  for (int64_t l = 0; l < mpi->local_size(); ++l)
    for (int64_t i = 0; i < count; ++i) wrong += node[l * count + i] != l * 10000.0 + static_cast<double>(i);
  EXPECT_EQ(wrong, 0);

  mpi->set_max_chunk(saved);
  expect_invalid_input([&] { mpi->set_max_chunk(0); }, "set_max_chunk");
}

// A second MpiCommunicator while MPI is up: it neither initialises nor finalises MPI, and its
// collectives run on its own communicator (the first one keeps working after it is gone).
TEST(Communicator, SecondMpiCommunicatorLeavesMpiUp) {
  Communicator& first = test_communicator();
  if (dynamic_cast<MpiCommunicator*>(&first) == nullptr) GTEST_SKIP() << "not an MpiCommunicator";
  {
    MpiCommunicator second(nullptr, nullptr);
    EXPECT_EQ(second.rank(), first.rank());
    EXPECT_EQ(second.size(), first.size());
    EXPECT_EQ(second.local_rank(), first.local_rank());
    EXPECT_EQ(second.host(), first.host());
    std::vector<float> values = rank_values<float>(second, 100);
    second.all_reduce_sum(values.data(), 100);
    expect_rank_sums(second, values);
  }
  std::vector<double> values = rank_values<double>(first, 100);
  first.all_reduce_sum(values.data(), 100);
  expect_rank_sums(first, values);
}

// The stall watchdog's arrival census: every collective (blocking or not) gets the next number on
// every rank, and rank 0 learns from each rank the latest one it entered.
TEST(Communicator, StallCensusNumbersEveryCollective) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&test_communicator());
  if (mpi == nullptr) GTEST_SKIP() << "not an MpiCommunicator";
  const int64_t before = mpi->collectives_started();
  float value = 1.0f;
  double dvalue = 1.0;
  mpi->all_reduce_sum(&value, 1);
  mpi->all_reduce_sum(&dvalue, 1);
  mpi->all_reduce_sum_async(&value, 1)->wait();
  mpi->broadcast(&value, sizeof(value), 0);
  mpi->barrier();
  EXPECT_EQ(mpi->collectives_started(), before + 5);
  // the same numbers on every rank (the all_gather is number before + 6)
  const std::vector<std::string> counts = mpi->all_gather(std::to_string(mpi->collectives_started()));
  const int64_t last = before + 6;
  for (int r = 0; r < mpi->size(); ++r) EXPECT_EQ(counts[r], std::to_string(last - 1)) << "rank " << r;
  EXPECT_EQ(mpi->collectives_started(), last);
  if (mpi->rank() == 0) {
    // every rank entered `last` before it completed here; its report may still be on the way, or
    // the rank may have finished it and entered the barrier below (last + 1) already
    std::vector<int64_t> arrivals;
    for (int attempt = 0; attempt < 2000; ++attempt) {
      arrivals = mpi->arrivals();
      if (std::all_of(arrivals.begin(), arrivals.end(), [&](int64_t n) { return n >= last; })) break;
      usleep(1000);
    }
    ASSERT_EQ(arrivals.size(), static_cast<size_t>(mpi->size()));
    EXPECT_EQ(arrivals[0], last);
    for (int r = 1; r < mpi->size(); ++r) {
      EXPECT_GE(arrivals[r], last) << "rank " << r;
      EXPECT_LE(arrivals[r], last + 1) << "rank " << r;
    }
  } else {
    EXPECT_TRUE(mpi->arrivals().empty());
  }
  mpi->barrier();
}

// A blocking all-reduce with the last rank late, an async one with rank 0 late, a barrier, a
// broadcast and a node all-gather with a late rank: each waits (sleep-polling past the spin) and
// gives the right result.
void expect_late_ranks_waited_for(Communicator& comm) {
  const int late = comm.size() - 1;
  std::vector<double> values = rank_values<double>(comm, 100);
  if (comm.rank() == late) usleep(300 * 1000);  // longer than the waits spin: the others sleep-poll
  comm.all_reduce_sum(values.data(), 100);
  expect_rank_sums(comm, values);

  std::vector<float> async = rank_values<float>(comm, 1000);
  auto request = comm.all_reduce_sum_async(async.data(), 1000);
  if (comm.rank() == 0) usleep(200 * 1000);
  request->wait();
  expect_rank_sums(comm, async);

  if (comm.rank() == late) usleep(100 * 1000);
  comm.barrier();
  int64_t token = comm.rank() == 0 ? 4242 : 0;
  if (comm.rank() == late) usleep(200 * 1000);
  comm.broadcast(&token, sizeof(token), 0);
  EXPECT_EQ(token, 4242);

  const double local = comm.local_rank();
  if (comm.rank() == late) usleep(150 * 1000);
  const std::vector<double> node = comm.node_all_gather(&local, 1);
  ASSERT_EQ(node.size(), static_cast<size_t>(comm.local_size()));
  for (int l = 0; l < comm.local_size(); ++l) EXPECT_EQ(node[l], l);
}

// A rank that is late, but within the stall timeout, is waited for: results are right and the job
// goes on (blocking collectives and a request's wait alike).
TEST(Communicator, LateRankWithinTheStallTimeoutIsWaitedFor) {
  Communicator& comm = test_communicator();
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm);
  const double saved = mpi != nullptr ? mpi->stall_timeout() : 300;
  comm.set_stall_timeout(5);
  if (mpi != nullptr) {
    EXPECT_EQ(mpi->stall_timeout(), 5);
  }
  expect_late_ranks_waited_for(comm);
  comm.set_stall_timeout(saved);
  expect_invalid_input([&] { comm.set_stall_timeout(0); }, {"stall timeout", "> 0"});
  expect_invalid_input([&] { comm.set_stall_timeout(-3); }, "stall timeout");
  comm.barrier();
}

// Large enough for Open MPI's rendezvous protocol, and different on every rank.
TEST(Communicator, AllGatherLargeStrings) {
  Communicator& comm = test_communicator();
  auto text_of = [](int r) {
    std::string text(static_cast<size_t>(200000 + 1000 * r), '\0');
    for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>((i * 31 + static_cast<size_t>(r)) % 256);
    return text;
  };
  const std::vector<std::string> all = comm.all_gather(text_of(comm.rank()));
  ASSERT_EQ(all.size(), static_cast<size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) EXPECT_TRUE(all[r] == text_of(r)) << "from rank " << r;
}

// With the interrupt flag set (as after SIGTERM), ranks a little behind are still waited for
// (the grace is 5 s): every collective completes with the right result and nothing aborts.
TEST(Communicator, InterruptedRanksInStepStillFinishTheirCollectives) {
  Communicator& comm = test_communicator();
  const std::atomic<bool> interrupted{true};
  comm.set_interrupt_flag(&interrupted);
  expect_late_ranks_waited_for(comm);
  const int late = comm.size() - 1;
  if (comm.rank() == 0) usleep(200 * 1000);
  const std::vector<std::string> ranks = comm.all_gather(std::to_string(comm.rank()));
  for (int r = 0; r < comm.size(); ++r) EXPECT_EQ(ranks[r], std::to_string(r));
  if (comm.rank() == late) usleep(100 * 1000);
  comm.barrier();
  comm.set_interrupt_flag(nullptr);
  comm.barrier();
}

// Bad arguments are caught on the calling rank before any communication (so all ranks throw alike).
TEST(Communicator, RejectsBadArgumentsBeforeCommunicating) {
  Communicator& comm = test_communicator();
  float value = 1.0f;
  expect_invalid_input([&] { comm.all_reduce_sum(&value, -1); }, "negative");
  expect_invalid_input([&] { comm.all_reduce_sum(static_cast<double*>(nullptr), 3); }, "null buffer");
  expect_invalid_input([&] { comm.all_reduce_sum_async(&value, -2); }, "negative");
  expect_invalid_input([&] { comm.broadcast(&value, sizeof(value), comm.size()); }, {"root", "size"});
  expect_invalid_input([&] { comm.broadcast(&value, sizeof(value), -1); }, "root");
  EXPECT_EQ(value, 1.0f);
  comm.barrier();  // and the ranks are still in step
}

}  // namespace
}  // namespace joule
