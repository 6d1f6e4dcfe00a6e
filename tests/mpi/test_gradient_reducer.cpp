// GradientReducer under mpirun (2 and 4 ranks) and as a singleton: with rank-dependent gradients
// the result equals a blocking all-reduce of the whole arena times the scale, identically on every
// rank; overlap on, off and without readiness agree; tiny caps (hundreds of buckets); per-rank
// scrambled readiness still launches buckets in order; gradient accumulation reduces once per step.
// Gradients are small multiples of 1/4 wherever results are compared bitwise, so every sum is exact
// in float whatever order MPI adds in; the random-valued test uses a tolerance instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "distributed/gradient_reducer.h"
#include "tests/mpi/mpi_test_env.h"

namespace joule {
namespace {

using testing::test_communicator;

double mb_of_floats(int64_t elements) { return elements * 4.0 / (1024.0 * 1024.0); }

// Forwards to the test communicator and records each non-blocking all-reduce (offset into `base`, count).
class RecordingCommunicator final : public Communicator {
 public:
  RecordingCommunicator(Communicator& inner, const float* base) : inner_(inner), base_(base) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  int local_rank() const override { return inner_.local_rank(); }
  int local_size() const override { return inner_.local_size(); }
  const std::string& host() const override { return inner_.host(); }
  void all_reduce_sum(float* data, int64_t count) override {
    ++blocking_calls;
    inner_.all_reduce_sum(data, count);
  }
  void all_reduce_sum(double* data, int64_t count) override { inner_.all_reduce_sum(data, count); }
  std::unique_ptr<CommRequest> all_reduce_sum_async(float* data, int64_t count) override {
    launches.push_back({data - base_, count});
    return inner_.all_reduce_sum_async(data, count);
  }
  void broadcast(void* data, int64_t bytes, int root) override { inner_.broadcast(data, bytes, root); }
  std::vector<std::string> all_gather(const std::string& local) override { return inner_.all_gather(local); }
  std::vector<double> node_all_gather(const double* local, int64_t count) override {
    return inner_.node_all_gather(local, count);
  }
  void barrier() override { inner_.barrier(); }
  void set_stall_timeout(double seconds) override { inner_.set_stall_timeout(seconds); }
  [[noreturn]] void abort(int exit_code) override {
    inner_.abort(exit_code);
    std::_Exit(exit_code);  // not reached; GCC does not see the virtual call's [[noreturn]]
  }

  std::vector<std::pair<int64_t, int64_t>> launches;
  int blocking_calls = 0;

 private:
  Communicator& inner_;
  const float* base_;
};

ParameterArena make_arena(const std::vector<int64_t>& sizes) {
  ParameterArena arena;
  for (size_t i = 0; i < sizes.size(); ++i) arena.add("p" + std::to_string(i), {sizes[i]});
  arena.allocate(Device::cpu());
  return arena;
}

std::vector<int64_t> mixed_sizes(int count) {
  std::vector<int64_t> sizes(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) sizes[i] = 1 + (i * 7919) % 3000;
  return sizes;
}

// Exact rank-dependent gradients: (rank + 1) · ((i % 13) − 6) / 4 + micro, padding left zero.
void fill_exact(ParameterArena& arena, int rank, int micro = 0) {
  for (int id = 0; id < arena.count(); ++id) {
    Tensor g = arena.grad(id);
    float* data = g.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) data[i] = (rank + 1) * static_cast<float>((i + id) % 13 - 6) / 4 + micro;
  }
}

std::vector<float> grads_of(const ParameterArena& arena) {
  const float* g = arena.grads().data<float>();
  return std::vector<float>(g, g + arena.total_elements());
}

// The reference: one blocking all-reduce of the whole arena, then the scale.
std::vector<float> blocking_reference(Communicator& comm, const ParameterArena& arena, float scale) {
  std::vector<float> expected = grads_of(arena);
  comm.all_reduce_sum(expected.data(), static_cast<int64_t>(expected.size()));
  for (float& v : expected) v *= scale;
  return expected;
}

void expect_same_bits(const std::vector<float>& got, const std::vector<float>& expected, const std::string& what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  int64_t wrong = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &expected[i], sizeof(float)) != 0 && wrong++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << expected[i];
  EXPECT_EQ(wrong, 0) << what;
}

// Every rank holds the same bytes.
void expect_equal_on_all_ranks(Communicator& comm, const std::vector<float>& values) {
  const std::string bytes(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  const std::vector<std::string> all = comm.all_gather(bytes);
  for (int r = 1; r < comm.size(); ++r) EXPECT_TRUE(all[r] == all[0]) << "rank " << r << " differs from rank 0";
}

// One step: readiness in `order` (empty: none reported), then finish.
void run_step(GradientReducer& reducer, const std::vector<int>& order, float scale) {
  reducer.begin_step();
  for (int id : order) reducer.on_grad_ready(id);
  reducer.finish(scale);
}

std::vector<int> reverse_ids(int count) {
  std::vector<int> order(static_cast<size_t>(count));
  std::iota(order.rbegin(), order.rend(), 0);
  return order;
}

TEST(GradientReducer, MatchesBlockingAllReduceOfRandomGradients) {
  Communicator& comm = test_communicator();
  ParameterArena arena = make_arena(mixed_sizes(60));
  std::mt19937 rng(99u + static_cast<unsigned>(comm.rank()));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int id = 0; id < arena.count(); ++id) {
    Tensor g = arena.grad(id);
    for (int64_t i = 0; i < g.numel(); ++i) g.data<float>()[i] = normal(rng);
  }
  std::vector<float> magnitude = grads_of(arena);  // Σ_ranks |g|: the scale of rounding errors
  for (float& v : magnitude) v = std::fabs(v);
  comm.all_reduce_sum(magnitude.data(), static_cast<int64_t>(magnitude.size()));
  const float scale = 1.0f / static_cast<float>(comm.size());
  const std::vector<float> expected = blocking_reference(comm, arena, scale);

  GradientReducer reducer(arena, comm, {mb_of_floats(20000), mb_of_floats(3000), true});
  EXPECT_GT(reducer.bucket_count(), 3);
  run_step(reducer, reverse_ids(arena.count()), scale);
  const std::vector<float> got = grads_of(arena);
  int64_t wrong = 0;
  // float sums in another order differ by a few ulps of the summands' magnitude; 1e-6 is ~8 ulps
  for (size_t i = 0; i < got.size(); ++i)
    if (std::fabs(got[i] - expected[i]) > 1e-6f * scale * magnitude[i] && wrong++ < 5)
      ADD_FAILURE() << "element " << i << ": " << got[i] << ", expected " << expected[i];
  EXPECT_EQ(wrong, 0);
  expect_equal_on_all_ranks(comm, got);
}

TEST(GradientReducer, OverlapOnOffAndUnreportedGiveTheSameResult) {
  Communicator& comm = test_communicator();
  ParameterArena arena = make_arena(mixed_sizes(50));
  fill_exact(arena, comm.rank());
  const float scale = 1.0f / static_cast<float>(comm.size());
  const std::vector<float> expected = blocking_reference(comm, arena, scale);
  struct Mode {
    bool overlap;
    bool report;
    const char* name;
  };
  for (const Mode& mode : {Mode{true, true, "overlap"}, Mode{false, true, "no overlap"}, Mode{true, false, "unreported"}}) {
    fill_exact(arena, comm.rank());
    GradientReducer reducer(arena, comm, {mb_of_floats(10000), mb_of_floats(2000), mode.overlap});
    const auto step_start = std::chrono::steady_clock::now();
    run_step(reducer, mode.report ? reverse_ids(arena.count()) : std::vector<int>{}, scale);
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    expect_same_bits(grads_of(arena), expected, mode.name);
    // finish()'s wait (seconds, this step only) is part of the step: never longer than it
    EXPECT_LE(reducer.comm_wait_seconds(), step_s) << mode.name;
  }
}

// The gradient norms the noise estimate needs: this rank's squared norm before the reduction and
// the reduced one after, in every mode (overlapped buckets, blocking, unreported), after the scale.
TEST(GradientReducer, MeasuresLocalAndReducedSquaredNorms) {
  Communicator& comm = test_communicator();
  ParameterArena arena = make_arena(mixed_sizes(40));
  const float scale = 0.5f;
  fill_exact(arena, comm.rank());
  double local = 0, global = 0;
  for (float g : grads_of(arena)) local += static_cast<double>(g) * g * scale * scale;
  for (float g : blocking_reference(comm, arena, scale)) global += static_cast<double>(g) * g;
  for (const bool overlap : {true, false}) {
    for (const bool report : {true, false}) {
      fill_exact(arena, comm.rank());
      GradientReducer reducer(arena, comm, {mb_of_floats(5000), mb_of_floats(1000), overlap});
      reducer.set_measure_norms(true, true);
      run_step(reducer, report ? reverse_ids(arena.count()) : std::vector<int>{}, scale);
      EXPECT_NEAR(reducer.local_sq_norm(), local, 1e-5 * local) << "overlap " << overlap << " report " << report;
      EXPECT_NEAR(reducer.global_sq_norm(), global, 1e-5 * global) << "overlap " << overlap << " report " << report;
      fill_exact(arena, comm.rank());
      reducer.set_measure_norms(false, false);
      run_step(reducer, report ? reverse_ids(arena.count()) : std::vector<int>{}, scale);
      EXPECT_EQ(reducer.local_sq_norm(), 0.0) << "not measured";
      EXPECT_EQ(reducer.global_sq_norm(), 0.0);
    }
  }
}

TEST(GradientReducer, TinyCapsMakeManyBuckets) {
  Communicator& comm = test_communicator();
  ParameterArena arena = make_arena(mixed_sizes(300));
  fill_exact(arena, comm.rank());
  const std::vector<float> expected = blocking_reference(comm, arena, 1.0f);
  for (int64_t cap : {1, 16, 1000}) {
    fill_exact(arena, comm.rank());
    RecordingCommunicator recording(comm, arena.grads().data<float>());
    GradientReducer reducer(arena, recording, {mb_of_floats(cap), mb_of_floats(cap), true});
    if (cap < 1000) {
      EXPECT_EQ(reducer.bucket_count(), arena.count());  // every parameter reaches the cap
    }
    run_step(reducer, reverse_ids(arena.count()), 1.0f);
    expect_same_bits(grads_of(arena), expected, "cap " + std::to_string(cap));
    if (comm.size() > 1) {
      // one non-blocking all-reduce per bucket, in bucket order, tiling the arena downwards
      ASSERT_EQ(recording.launches.size(), static_cast<size_t>(reducer.bucket_count()));
      int64_t end = arena.total_elements();
      for (const auto& [begin, count] : recording.launches) {
        EXPECT_EQ(begin + count, end);
        end = begin;
      }
      EXPECT_EQ(end, 0);
      EXPECT_EQ(recording.blocking_calls, 0);
    }
  }
}

TEST(GradientReducer, ScrambledReadinessStillLaunchesInOrder) {
  Communicator& comm = test_communicator();
  ParameterArena arena = make_arena(mixed_sizes(80));
  fill_exact(arena, comm.rank());
  const std::vector<float> expected = blocking_reference(comm, arena, 0.5f);
  fill_exact(arena, comm.rank());
  RecordingCommunicator recording(comm, arena.grads().data<float>());
  GradientReducer reducer(arena, recording, {mb_of_floats(8000), mb_of_floats(1500), true});
  ASSERT_GT(reducer.bucket_count(), 5);
  // each rank its own order: launches must still match across ranks
  std::vector<int> order = reverse_ids(arena.count());
  std::mt19937 rng(1000u + static_cast<unsigned>(comm.rank()));
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int> missing(static_cast<size_t>(reducer.bucket_count()));
  for (int k = 0; k < reducer.bucket_count(); ++k) missing[k] = reducer.bucket(k).high_id - reducer.bucket(k).low_id + 1;
  reducer.begin_step();
  for (int id : order) {
    reducer.on_grad_ready(id);
    --missing[static_cast<size_t>(reducer.bucket_of(id))];
    int complete_prefix = 0;
    while (complete_prefix < reducer.bucket_count() && missing[complete_prefix] == 0) ++complete_prefix;
    EXPECT_EQ(reducer.buckets_launched(), complete_prefix) << "after id " << id;
  }
  reducer.finish(0.5f);
  expect_same_bits(grads_of(arena), expected, "scrambled");
  std::string launches;
  for (const auto& [begin, count] : recording.launches) launches += std::to_string(begin) + "+" + std::to_string(count) + " ";
  const std::vector<std::string> all = comm.all_gather(launches);
  for (int r = 1; r < comm.size(); ++r) EXPECT_EQ(all[r], all[0]) << "launch sequence of rank " << r;
}

// Micro-batches accumulate locally; only the last reports readiness; one all-reduce per bucket per
// step; the scale 1/(ranks · micro-batches) gives the mean. Several steps reuse the reducer.
TEST(GradientReducer, GradientAccumulationReducesOncePerStep) {
  Communicator& comm = test_communicator();
  ParameterArena arena = make_arena(mixed_sizes(40));
  RecordingCommunicator recording(comm, arena.grads().data<float>());
  GradientReducer reducer(arena, recording, {mb_of_floats(6000), mb_of_floats(1000), true});
  const int micro_batches = 4;
  const float scale = 1.0f / static_cast<float>(comm.size() * micro_batches);
  for (int step = 0; step < 3; ++step) {
    // reference: the sum over micro-batches of each rank's gradients, all-reduced at once
    arena.zero_grads();
    std::vector<float> local(static_cast<size_t>(arena.total_elements()), 0.0f);
    for (int m = 0; m < micro_batches; ++m) {
      fill_exact(arena, comm.rank(), m + step);
      const std::vector<float> g = grads_of(arena);
      for (size_t i = 0; i < local.size(); ++i) local[i] += g[i];
    }
    std::vector<float> expected = local;
    comm.all_reduce_sum(expected.data(), static_cast<int64_t>(expected.size()));
    for (float& v : expected) v *= scale;

    recording.launches.clear();
    reducer.begin_step();
    std::copy(local.begin(), local.end(), arena.grads().data<float>());  // the accumulated micro-batches
    for (int id : reverse_ids(arena.count())) reducer.on_grad_ready(id);  // the last one's backward
    reducer.finish(scale);
    expect_same_bits(grads_of(arena), expected, "step " + std::to_string(step));
    if (comm.size() > 1) {
      EXPECT_EQ(recording.launches.size(), static_cast<size_t>(reducer.bucket_count()));
    }
  }
}

}  // namespace
}  // namespace joule
