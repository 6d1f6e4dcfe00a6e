// The node-shared meter without MPI: the split rule on its own, the GPU keys ranks compare, one
// rank (LocalCommunicator: a pass-through counted from construction), and several ranks of one
// node as threads of this process (ThreadNode below: a real exchange, so the test does not depend
// on what the wrapper sends) reading scripted inner meters: shares follow CPU time, sum to the
// leader's delta, only grow; the estimate is never split; a shared GPU is split equally.
// The MPI version (fake powercap tree, mpirun -np 2) is tests/mpi/test_node_shared_meter.cpp.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "distributed/node_shared_meter.h"

namespace joule {
namespace {

using energy::MeterReading;

// Returns a script of readings, one per read() (the first for the wrapper's baseline).
class ScriptedMeter final : public energy::Meter {
 public:
  ScriptedMeter(std::vector<MeterReading> script, std::vector<std::string> sources)
      : script_(std::move(script)), sources_(std::move(sources)) {}
  MeterReading read() override {
    EXPECT_LT(next_, script_.size()) << "read more often than scripted";
    return script_.at(std::min(next_++, script_.size() - 1));
  }
  std::vector<std::string> sources() const override { return sources_; }
  bool measured() const override { return sources_ != std::vector<std::string>{"estimate"}; }

 private:
  std::vector<MeterReading> script_;
  std::vector<std::string> sources_;
  size_t next_ = 0;
};

MeterReading reading(double cpu_j, double dram_j = 0, double gpu_j = 0) {
  MeterReading r;
  r.cpu_j = cpu_j;
  r.dram_j = dram_j;
  r.gpu_j = gpu_j;
  return r;
}

// The ranks of one node (and of the job) as threads: each exchange round is stored by its number,
// so rounds never overlap. Collectives not needed here fail the test.
class ThreadNode {
 public:
  explicit ThreadNode(int size) : size_(size) {}
  int size() const { return size_; }
  std::vector<std::string> exchange(int rank, int64_t round, const std::string& mine) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::vector<std::string>& slots = rounds_[round];
    slots.resize(static_cast<size_t>(size_));
    slots[rank] = mine;
    ++arrived_[round];
    changed_.notify_all();
    changed_.wait(lock, [&] { return arrived_[round] == size_; });
    return slots;
  }

 private:
  int size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int64_t, std::vector<std::string>> rounds_;
  std::map<int64_t, int> arrived_;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadNode& node, int rank) : node_(node), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return node_.size(); }
  int local_rank() const override { return rank_; }
  int local_size() const override { return node_.size(); }
  const std::string& host() const override { return host_; }
  void all_reduce_sum(float*, int64_t) override { ADD_FAILURE() << "unexpected all_reduce_sum"; }
  void all_reduce_sum(double*, int64_t) override { ADD_FAILURE() << "unexpected all_reduce_sum"; }
  std::unique_ptr<CommRequest> all_reduce_sum_async(float*, int64_t) override {
    ADD_FAILURE() << "unexpected all_reduce_sum_async";
    return LocalCommunicator().all_reduce_sum_async(nullptr, 0);
  }
  void broadcast(void*, int64_t, int) override { ADD_FAILURE() << "unexpected broadcast"; }
  std::vector<std::string> all_gather(const std::string& local) override {
    return node_.exchange(rank_, round_++, local);
  }
  std::vector<double> node_all_gather(const double* local, int64_t count) override {
    const std::string bytes(reinterpret_cast<const char*>(local), static_cast<size_t>(count) * sizeof(double));
    std::vector<double> out;
    for (const std::string& rows : node_.exchange(rank_, round_++, bytes)) {
      EXPECT_EQ(rows.size(), bytes.size()) << "ranks gathered different counts";
      std::vector<double> values(rows.size() / sizeof(double));
      std::memcpy(values.data(), rows.data(), rows.size());
      out.insert(out.end(), values.begin(), values.end());
    }
    return out;
  }
  void barrier() override { ADD_FAILURE() << "unexpected barrier"; }
  void set_stall_timeout(double) override {}
  [[noreturn]] void abort(int exit_code) override { std::_Exit(exit_code); }

 private:
  ThreadNode& node_;
  int rank_;
  int64_t round_ = 0;
  std::string host_ = "threads";
};

// One rank's part: its inner meter's script, its CPU seconds at each read, its GPU string.
struct RankScript {
  std::vector<MeterReading> readings;
  std::vector<std::string> sources;
  std::vector<double> cpu_seconds;
  std::string gpu;
};

// Runs the ranks as threads: each builds the wrapper, then reads it (script length − 1) times.
// Returns, per rank, the wrapper's readings; *notes gets each rank's note.
std::vector<std::vector<MeterReading>> run_node(const std::vector<RankScript>& ranks,
                                                std::vector<std::string>* notes = nullptr) {
  ThreadNode node(static_cast<int>(ranks.size()));
  std::vector<std::vector<MeterReading>> out(ranks.size());
  std::vector<std::string> rank_notes(ranks.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < ranks.size(); ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(node, static_cast<int>(r));
      size_t next = 0;
      NodeShareOptions options;
      options.gpu = ranks[r].gpu;
      options.cpu_seconds = [&, r]() mutable { return ranks[r].cpu_seconds.at(next++); };
      auto meter = make_node_shared_meter(std::make_unique<ScriptedMeter>(ranks[r].readings, ranks[r].sources), comm,
                                          options, &rank_notes[r]);
      for (size_t k = 1; k < ranks[r].readings.size(); ++k) out[r].push_back(meter->read());
    });
  for (std::thread& t : threads) t.join();
  if (notes != nullptr) *notes = rank_notes;
  return out;
}

TEST(SplitNodeDelta, ProportionalToTheWeights) {
  const std::vector<double> shares = split_node_delta(12.0, {3.0, 1.0, 0.0, 2.0});
  ASSERT_EQ(shares.size(), 4u);
  EXPECT_DOUBLE_EQ(shares[0], 6.0);
  EXPECT_DOUBLE_EQ(shares[1], 2.0);
  EXPECT_EQ(shares[2], 0.0);
  EXPECT_DOUBLE_EQ(shares[3], 4.0);
}

TEST(SplitNodeDelta, EquallyWhenNoRankUsedTheCpu) {
  EXPECT_EQ(split_node_delta(9.0, {0.0, 0.0, 0.0}), (std::vector<double>{3.0, 3.0, 3.0}));
  EXPECT_EQ(split_node_delta(5.0, {7.5}), std::vector<double>{5.0});
}

TEST(SplitNodeDelta, NegativeNumbersCountAsZero) {
  EXPECT_EQ(split_node_delta(-4.0, {1.0, 1.0}), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(split_node_delta(8.0, {-1.0, 2.0}), (std::vector<double>{0.0, 8.0}));
  EXPECT_EQ(split_node_delta(8.0, {-1.0, -2.0}), (std::vector<double>{4.0, 4.0}));
}

TEST(SplitNodeDelta, SharesSumToTheDelta) {
  const double delta = 1234.5678;
  const std::vector<double> shares = split_node_delta(delta, {0.1, 0.7, 0.3, 1e-9, 2.9});
  double sum = 0;
  for (double s : shares) sum += s;
  EXPECT_NEAR(sum, delta, 1e-12 * delta);
}

TEST(GpuShareKey, SameDeviceSameKey) {
  EXPECT_EQ(gpu_share_key(""), "");
  EXPECT_EQ(gpu_share_key("0"), "index 0");
  EXPECT_EQ(gpu_share_key("007"), "index 7");
  EXPECT_NE(gpu_share_key("1"), gpu_share_key("0"));
  EXPECT_EQ(gpu_share_key("0000:1b:00.0"), gpu_share_key("00000000:1B:00.0"));
  EXPECT_EQ(gpu_share_key("1b:00.0"), gpu_share_key("00000000:1B:00.0"));
  EXPECT_EQ(gpu_share_key("0001:1b:00.0"), "1:1b:00.0");
  EXPECT_NE(gpu_share_key("0000:1b:00.0"), gpu_share_key("0000:1c:00.0"));
}

// Alone on its node the rank keeps what it metered, counted from the wrapper's construction.
TEST(NodeSharedMeter, OneRankPassesItsReadingsThrough) {
  LocalCommunicator comm;
  auto inner = std::make_unique<ScriptedMeter>(
      std::vector<MeterReading>{reading(100, 10, 50), reading(130, 12, 80), reading(190, 15, 80)},
      std::vector<std::string>{"nvml", "rapl"});
  std::string note = "stale";
  NodeShareOptions options;
  options.gpu = "0";
  auto meter = make_node_shared_meter(std::move(inner), comm, options, &note);
  EXPECT_EQ(note, "");
  EXPECT_EQ(meter->sources(), (std::vector<std::string>{"nvml", "rapl"}));
  EXPECT_TRUE(meter->measured());
  const MeterReading first = meter->read();
  EXPECT_DOUBLE_EQ(first.cpu_j, 30);
  EXPECT_DOUBLE_EQ(first.dram_j, 2);
  EXPECT_DOUBLE_EQ(first.gpu_j, 30);
  const MeterReading second = meter->read();
  EXPECT_DOUBLE_EQ(second.cpu_j, 90);
  EXPECT_DOUBLE_EQ(second.dram_j, 5);
  EXPECT_DOUBLE_EQ(second.gpu_j, 30);
}

// Two ranks reading one RAPL package: rank 0 (the leader) meters 40 J then 60 J; rank 1 read the
// counter a little later (its own numbers differ and must not count). CPU time 3:1, then 0:0
// (equal split), then 1:4.
TEST(NodeSharedMeter, RaplIsSplitByCpuTimeAndSumsToTheLeadersDelta) {
  RankScript leader{{reading(1000, 100), reading(1040, 104), reading(1100, 110), reading(1150, 120)},
                    {"rapl"},
                    {5.0, 5.3, 5.3, 5.4},
                    ""};
  RankScript other{{reading(1001, 101), reading(1043, 105), reading(1102, 111), reading(1149, 121)},
                   {"rapl"},
                   {2.0, 2.1, 2.1, 2.5},
                   ""};
  std::vector<std::string> notes;
  const auto out = run_node({leader, other}, &notes);
  ASSERT_EQ(out[0].size(), 3u);
  ASSERT_EQ(out[1].size(), 3u);
  EXPECT_NE(notes[0].find("split among its 2 ranks by CPU time"), std::string::npos) << notes[0];
  EXPECT_EQ(notes[1], notes[0]);
  // window 1: 40 J at 0.3 : 0.1 CPU s; window 2: 60 J, no CPU time, halves; window 3: 50 J at 0.1 : 0.4
  EXPECT_NEAR(out[0][0].cpu_j, 30, 1e-9);
  EXPECT_NEAR(out[1][0].cpu_j, 10, 1e-9);
  EXPECT_NEAR(out[0][1].cpu_j, 60, 1e-9);
  EXPECT_NEAR(out[1][1].cpu_j, 40, 1e-9);
  EXPECT_NEAR(out[0][2].cpu_j, 70, 1e-9);
  EXPECT_NEAR(out[1][2].cpu_j, 80, 1e-9);
  EXPECT_NEAR(out[0][2].dram_j + out[1][2].dram_j, 20, 1e-9);  // DRAM follows the same rule
  EXPECT_NEAR(out[0][0].dram_j, 3, 1e-9);
  for (size_t k = 0; k < 3; ++k) {
    const double node_delta = leader.readings[k + 1].cpu_j - leader.readings[0].cpu_j;
    EXPECT_NEAR(out[0][k].cpu_j + out[1][k].cpu_j, node_delta, 1e-12 * node_delta) << "read " << k;
    EXPECT_EQ(out[0][k].gpu_j + out[1][k].gpu_j, 0.0);
    for (size_t r = 0; r < 2; ++r)
      if (k > 0) {
        EXPECT_GE(out[r][k].cpu_j, out[r][k - 1].cpu_j) << "rank " << r << " read " << k;
      }
  }
}

// The estimate is each process's own CPU time: never split, even beside RAPL ranks.
TEST(NodeSharedMeter, EstimateIsNeverSplit) {
  RankScript a{{reading(0), reading(7), reading(9)}, {"estimate"}, {0, 1, 2}, ""};
  RankScript b{{reading(50), reading(53), reading(60)}, {"estimate"}, {0, 0, 0}, ""};
  std::vector<std::string> notes;
  const auto out = run_node({a, b}, &notes);
  EXPECT_EQ(notes[0], "");
  EXPECT_DOUBLE_EQ(out[0][1].cpu_j, 9);
  EXPECT_DOUBLE_EQ(out[1][1].cpu_j, 10);
}

// Ranks 0 and 2 share GPU "0000:1b:00.0" (named two ways), rank 1 has GPU 1c to itself: the shared
// GPU's energy (the leader's counter) is halved, the other passed through; CPU energy estimated.
TEST(NodeSharedMeter, SharedGpuIsSplitEqually) {
  const std::vector<std::string> sources = {"nvml", "estimate"};
  RankScript r0{{reading(0, 0, 500), reading(1, 0, 600), reading(2, 0, 900)}, sources, {0, 3, 4}, "0000:1b:00.0"};
  RankScript r1{{reading(0, 0, 10), reading(1, 0, 30), reading(2, 0, 35)}, sources, {0, 3, 4}, "0000:1c:00.0"};
  RankScript r2{{reading(0, 0, 505), reading(1, 0, 602), reading(2, 0, 904)}, sources, {0, 0, 9}, "00000000:1B:00.0"};
  std::vector<std::string> notes;
  const auto out = run_node({r0, r1, r2}, &notes);
  EXPECT_NE(notes[0].find("split equally among the 2 ranks"), std::string::npos) << notes[0];
  EXPECT_EQ(notes[1], "");
  EXPECT_DOUBLE_EQ(out[0][0].gpu_j, 50);
  EXPECT_DOUBLE_EQ(out[2][0].gpu_j, 50);
  EXPECT_DOUBLE_EQ(out[0][1].gpu_j, 200);
  EXPECT_DOUBLE_EQ(out[2][1].gpu_j, 200);
  EXPECT_DOUBLE_EQ(out[1][1].gpu_j, 25);
  EXPECT_DOUBLE_EQ(out[2][1].cpu_j, 2);  // its own estimate
}

}  // namespace
}  // namespace joule
