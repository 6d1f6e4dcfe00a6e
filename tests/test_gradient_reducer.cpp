// GradientReducer in one process (LocalCommunicator): bucket assignment (exact tiling of the arena,
// reverse id order, first-bucket and later caps), in-order launching whatever order readiness
// arrives in, scaling, and the misuse checks. The multi-rank results: tests/mpi/test_gradient_reducer.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "distributed/gradient_reducer.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;

constexpr double kMb = 1024.0 * 1024.0;  // bytes per MB, as the reducer counts
double mb_of_floats(int64_t elements) { return elements * 4.0 / kMb; }

// An allocated arena with one 1-D parameter per entry of `sizes` (elements).
ParameterArena make_arena(const std::vector<int64_t>& sizes) {
  ParameterArena arena;
  for (size_t i = 0; i < sizes.size(); ++i) arena.add("p" + std::to_string(i), {sizes[i]});
  arena.allocate(Device::cpu());
  return arena;
}

// End of parameter id's padded slot.
int64_t slot_end(const ParameterArena& arena, int id) {
  return id + 1 < arena.count() ? arena.offset(id + 1) : arena.total_elements();
}

void internal_error(const std::function<void()>& call, const std::string& part) {
  try {
    call();
    ADD_FAILURE() << "expected a joule::Error (internal), nothing was thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// The buckets tile the arena from its end down to 0, each holding consecutive ids (highest first),
// each closed as soon as it reached its cap, none (but the last) short of it.
void expect_valid_buckets(const ParameterArena& arena, const GradientReducer& reducer, int64_t first_cap,
                          int64_t later_cap) {
  ASSERT_GE(reducer.bucket_count(), 1);
  int64_t end = arena.total_elements();
  int high = arena.count() - 1;
  for (int k = 0; k < reducer.bucket_count(); ++k) {
    const GradientReducer::Bucket& b = reducer.bucket(k);
    SCOPED_TRACE("bucket " + std::to_string(k));
    EXPECT_EQ(b.end, end);
    EXPECT_EQ(b.high_id, high);
    EXPECT_LE(b.low_id, b.high_id);
    EXPECT_EQ(b.begin, arena.offset(b.low_id));
    EXPECT_EQ(b.end, slot_end(arena, b.high_id));
    for (int id = b.low_id; id <= b.high_id; ++id) EXPECT_EQ(reducer.bucket_of(id), k) << "id " << id;
    const int64_t cap = k == 0 ? first_cap : later_cap;
    const bool last = k + 1 == reducer.bucket_count();
    if (!last) {
      EXPECT_GE(b.elements(), cap);
    }
    EXPECT_LT(b.elements() - (slot_end(arena, b.low_id) - arena.offset(b.low_id)), cap) << "closed late";
    end = b.begin;
    high = b.low_id - 1;
  }
  EXPECT_EQ(end, 0);
  EXPECT_EQ(high, -1);
}

TEST(GradientReducer, BucketsTileTheArenaWithCapsRespected) {
  // odd sizes, so padding sits between parameters; one empty parameter
  const std::vector<int64_t> sizes = {3, 1000, 17, 4096, 0, 250, 5000, 1, 64, 777, 12000, 33};
  ParameterArena arena = make_arena(sizes);
  LocalCommunicator comm;
  for (int64_t first : {16, 1000, 4096, 100000}) {
    for (int64_t later : {16, 2000, 8192, 1000000}) {
      SCOPED_TRACE("caps " + std::to_string(first) + "/" + std::to_string(later) + " elements");
      GradientReducer reducer(arena, comm, {mb_of_floats(later), mb_of_floats(first), true});
      expect_valid_buckets(arena, reducer, first, later);
    }
  }
}

TEST(GradientReducer, BucketsFollowReverseIdOrder) {
  ParameterArena arena = make_arena({100, 200, 300, 400, 500});
  LocalCommunicator comm;
  GradientReducer reducer(arena, comm, {mb_of_floats(1), mb_of_floats(1), true});  // one parameter each
  ASSERT_EQ(reducer.bucket_count(), 5);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(reducer.bucket(k).low_id, 4 - k);
    EXPECT_EQ(reducer.bucket(k).high_id, 4 - k);
    if (k > 0) {
      EXPECT_LT(reducer.bucket(k).begin, reducer.bucket(k - 1).begin);
    }
  }
}

TEST(GradientReducer, FirstBucketHasItsOwnCap) {
  // 16 parameters of exactly 1 MB: bucket 0 takes one (1 MB cap), the others 4 each (4 MB cap)
  const int64_t mb = static_cast<int64_t>(kMb / 4);
  ParameterArena arena = make_arena(std::vector<int64_t>(16, mb));
  LocalCommunicator comm;
  GradientReducer reducer(arena, comm, {4, 1, true});
  ASSERT_EQ(reducer.bucket_count(), 5);
  EXPECT_EQ(reducer.bucket(0).elements(), mb);
  EXPECT_EQ(reducer.bucket(0).low_id, 15);
  for (int k = 1; k < 4; ++k) EXPECT_EQ(reducer.bucket(k).elements(), 4 * mb) << "bucket " << k;
  EXPECT_EQ(reducer.bucket(4).elements(), 3 * mb);  // what is left
  expect_valid_buckets(arena, reducer, mb, 4 * mb);
}

TEST(GradientReducer, DefaultCapsOnAnMlpShapedArena) {
  // 784-1024-1024-10: w1 3.1 MB, b1, w2 4 MB, b2, w3 40 KB, b3
  ParameterArena arena;
  for (const auto& [name, shape] : std::vector<std::pair<std::string, Shape>>{
           {"w1", {1024, 784}}, {"b1", {1024}}, {"w2", {1024, 1024}}, {"b2", {1024}}, {"w3", {10, 1024}}, {"b3", {10}}})
    arena.add(name, shape);
  arena.allocate(Device::cpu());
  LocalCommunicator comm;
  GradientReducer reducer(arena, comm);
  EXPECT_EQ(reducer.options().bucket_mb, 25);
  EXPECT_EQ(reducer.options().first_bucket_mb, 1);
  ASSERT_EQ(reducer.bucket_count(), 2);
  EXPECT_EQ(reducer.bucket(0).low_id, 2);  // b3, w3, b2 stay under 1 MB; w2 closes bucket 0
  EXPECT_EQ(reducer.bucket(1).low_id, 0);
  expect_valid_buckets(arena, reducer, static_cast<int64_t>(kMb / 4), static_cast<int64_t>(25 * kMb / 4));
}

TEST(GradientReducer, ScrambledReadinessLaunchesBucketsInOrder) {
  std::vector<int64_t> sizes(40);
  for (size_t i = 0; i < sizes.size(); ++i) sizes[i] = 50 + static_cast<int64_t>(i * 37 % 200);
  ParameterArena arena = make_arena(sizes);
  LocalCommunicator comm;
  GradientReducer reducer(arena, comm, {mb_of_floats(400), mb_of_floats(100), true});
  ASSERT_GT(reducer.bucket_count(), 5);
  std::vector<int> order(sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(7);
  for (int step = 0; step < 3; ++step) {
    std::shuffle(order.begin(), order.end(), rng);
    reducer.begin_step();
    std::vector<int> missing(static_cast<size_t>(reducer.bucket_count()));
    for (int k = 0; k < reducer.bucket_count(); ++k) missing[k] = reducer.bucket(k).high_id - reducer.bucket(k).low_id + 1;
    for (int id : order) {
      reducer.on_grad_ready(id);
      --missing[static_cast<size_t>(reducer.bucket_of(id))];
      int complete_prefix = 0;
      while (complete_prefix < reducer.bucket_count() && missing[complete_prefix] == 0) ++complete_prefix;
      ASSERT_EQ(reducer.buckets_launched(), complete_prefix) << "after id " << id;
    }
    EXPECT_EQ(reducer.buckets_launched(), reducer.bucket_count());
    reducer.finish(1.0f);
    EXPECT_EQ(reducer.buckets_launched(), 0);  // the step ended
  }
}

TEST(GradientReducer, FinishAppliesTheScale) {
  ParameterArena arena = make_arena({5, 300, 17, 1000});
  float* grads = arena.grads().data<float>();
  LocalCommunicator comm;
  for (bool report : {true, false}) {
    for (bool overlap : {true, false}) {
      GradientReducer reducer(arena, comm, {mb_of_floats(500), mb_of_floats(100), overlap});
      for (int id = 0; id < arena.count(); ++id) {
        float* g = arena.grad(id).data<float>();
        for (int64_t i = 0; i < arena.grad(id).numel(); ++i) g[i] = static_cast<float>((i % 9) - 4) * (id + 1);
      }
      const std::vector<float> before(grads, grads + arena.total_elements());
      reducer.begin_step();
      if (report)
        for (int id = arena.count() - 1; id >= 0; --id) reducer.on_grad_ready(id);
      EXPECT_EQ(reducer.buckets_launched(), report && overlap ? reducer.bucket_count() : 0);
      const auto finish_start = std::chrono::steady_clock::now();
      reducer.finish(0.25f);
      const double finish_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - finish_start).count();
      // the wait is measured inside finish() (seconds, this step only): no longer than the call
      EXPECT_LE(reducer.comm_wait_seconds(), finish_s);
      int64_t wrong = 0;
      for (int64_t i = 0; i < arena.total_elements(); ++i) wrong += grads[i] != before[i] * 0.25f;
      EXPECT_EQ(wrong, 0) << "report " << report << ", overlap " << overlap;
      for (int64_t i = 5; i < arena.offset(1); ++i) EXPECT_EQ(grads[i], 0.0f) << "padding";
    }
  }
}

TEST(GradientReducer, ConsecutiveStepsNeedNoBeginStep) {
  ParameterArena arena = make_arena({64, 64});
  LocalCommunicator comm;
  GradientReducer reducer(arena, comm);
  for (int step = 0; step < 3; ++step) {
    reducer.on_grad_ready(1);
    reducer.on_grad_ready(0);
    reducer.finish(1.0f);
  }
}

TEST(GradientReducer, MisuseIsAnInternalError) {
  ParameterArena arena = make_arena({64, 64, 64});
  LocalCommunicator comm;
  GradientReducer reducer(arena, comm, {mb_of_floats(64), mb_of_floats(64), true});
  reducer.begin_step();
  reducer.on_grad_ready(2);
  internal_error([&] { reducer.on_grad_ready(2); }, "'p2' reported ready twice");
  internal_error([&] { reducer.on_grad_ready(3); }, "no such parameter");
  internal_error([&] { reducer.on_grad_ready(-1); }, "no such parameter");
  internal_error([&] { reducer.finish(1.0f); }, "2 of 3 parameters were never reported ready");
  reducer.begin_step();  // starting over is fine
  for (int id = 2; id >= 0; --id) reducer.on_grad_ready(id);
  reducer.finish(1.0f);
}

TEST(GradientReducer, RejectsBadCaps) {
  ParameterArena arena = make_arena({64});
  LocalCommunicator comm;
  expect_invalid_input([&] { GradientReducer(arena, comm, {0, 1, true}); }, "distributed.bucket_mb");
  expect_invalid_input([&] { GradientReducer(arena, comm, {25, -1, true}); }, "distributed.first_bucket_mb");
  expect_invalid_input([&] { GradientReducer(arena, comm, {std::nan(""), 1, true}); }, "bucket_mb");
}

}  // namespace
}  // namespace joule
