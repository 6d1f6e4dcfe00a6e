// LocalCommunicator: one rank (alone on its node), collectives are identities, arguments are still
// checked, abort ends the process with the given status.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "distributed/communicator.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_invalid_input;

TEST(LocalCommunicator, IsOneRankOnThisHost) {
  LocalCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.local_rank(), 0);
  EXPECT_EQ(comm.local_size(), 1);
  EXPECT_FALSE(comm.host().empty());
}

TEST(LocalCommunicator, AllReduceLeavesValuesAsTheyAre) {
  LocalCommunicator comm;
  std::vector<float> floats = {1.5f, -2.0f, 3.25f};
  std::vector<double> doubles = {0.1, 1e300, -7.0};
  const std::vector<float> floats_before = floats;
  const std::vector<double> doubles_before = doubles;
  comm.all_reduce_sum(floats.data(), 3);
  comm.all_reduce_sum(doubles.data(), 3);
  EXPECT_EQ(floats, floats_before);
  EXPECT_EQ(doubles, doubles_before);
  comm.all_reduce_sum(static_cast<float*>(nullptr), 0);

  auto request = comm.all_reduce_sum_async(floats.data(), 3);
  EXPECT_TRUE(request->test());
  EXPECT_TRUE(request->test());
  request->wait();
  EXPECT_EQ(floats, floats_before);
}

TEST(LocalCommunicator, BroadcastAllGatherBarrier) {
  LocalCommunicator comm;
  int value = 17;
  comm.broadcast(&value, sizeof(value), 0);
  EXPECT_EQ(value, 17);
  EXPECT_EQ(comm.all_gather("hash:abc"), std::vector<std::string>{"hash:abc"});
  EXPECT_EQ(comm.all_gather(""), std::vector<std::string>{""});
  comm.barrier();
}

// The node is this rank alone: the gather returns the rank's own values.
TEST(LocalCommunicator, NodeAllGatherReturnsTheLocalValues) {
  LocalCommunicator comm;
  const std::vector<double> values = {0.5, -3.0, 1e300};
  EXPECT_EQ(comm.node_all_gather(values.data(), 3), values);
  EXPECT_TRUE(comm.node_all_gather(nullptr, 0).empty());
  expect_invalid_input([&] { comm.node_all_gather(values.data(), -1); }, {"node_all_gather", "negative"});
  expect_invalid_input([&] { comm.node_all_gather(nullptr, 2); }, "null buffer");
}

TEST(LocalCommunicator, ChecksArguments) {
  LocalCommunicator comm;
  float value = 0.0f;
  expect_invalid_input([&] { comm.all_reduce_sum(&value, -1); }, {"all_reduce_sum", "negative"});
  expect_invalid_input([&] { comm.all_reduce_sum(static_cast<double*>(nullptr), 2); }, "null buffer");
  expect_invalid_input([&] { comm.all_reduce_sum_async(&value, -1); }, "negative");
  expect_invalid_input([&] { comm.broadcast(&value, sizeof(value), 1); }, {"root 1", "size 1"});
  expect_invalid_input([&] { comm.broadcast(&value, -4, 0); }, "negative");
}

// Nothing to wait for with one rank: a valid timeout is accepted and changes nothing.
TEST(LocalCommunicator, StallTimeoutIsCheckedAndHarmless) {
  LocalCommunicator comm;
  comm.set_stall_timeout(0.001);
  comm.set_stall_timeout(300);
  double value = 2.5;
  comm.all_reduce_sum(&value, 1);
  comm.barrier();
  EXPECT_EQ(value, 2.5);
  expect_invalid_input([&] { comm.set_stall_timeout(0); }, {"stall timeout", "distributed.stall_timeout_s", "> 0"});
  expect_invalid_input([&] { comm.set_stall_timeout(-1); }, "stall timeout");
  expect_invalid_input([&] { comm.set_stall_timeout(std::nan("")); }, "stall timeout");
}

TEST(LocalCommunicatorDeathTest, AbortExitsWithTheCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(LocalCommunicator().abort(7), ::testing::ExitedWithCode(7), "");
}

}  // namespace
}  // namespace joule
