// ParameterArena: 16-element padded layout, flat values/grads and the per-parameter views that
// alias them, lookup, zero_grads, and the two-phase (add, then allocate) contract.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "ops/parameters.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_internal;

// a: 15 elements, b: exactly 16, c: 1, d: 17 -> offsets 0, 16, 32, 48; total 48 + 32 = 80
ParameterArena make_arena() {
  ParameterArena arena;
  EXPECT_EQ(arena.add("a", {3, 5}), 0);
  EXPECT_EQ(arena.add("b", {16}), 1);
  EXPECT_EQ(arena.add("c", {1}), 2);
  EXPECT_EQ(arena.add("d", {17}), 3);
  return arena;
}

}  // namespace

TEST(ParameterArena, OffsetsArePaddedTo16) {
  ParameterArena arena = make_arena();
  EXPECT_FALSE(arena.allocated());
  EXPECT_EQ(arena.count(), 4);
  EXPECT_EQ(arena.offset(0), 0);
  EXPECT_EQ(arena.offset(1), 16);
  EXPECT_EQ(arena.offset(2), 32);
  EXPECT_EQ(arena.offset(3), 48);
  EXPECT_EQ(arena.total_elements(), 80);
  EXPECT_EQ(arena.parameter_elements(), 15 + 16 + 1 + 17);
  for (int id = 0; id < arena.count(); ++id) EXPECT_EQ(arena.offset(id) % 16, 0) << id;
  EXPECT_EQ(arena.name(3), "d");
}

TEST(ParameterArena, FlatBuffersAndAliasingViews) {
  ParameterArena arena = make_arena();
  arena.allocate(Device::cpu());
  ASSERT_TRUE(arena.allocated());
  EXPECT_EQ(arena.values().shape(), (Shape{80}));
  EXPECT_EQ(arena.grads().shape(), (Shape{80}));
  EXPECT_EQ(arena.values().dtype(), DType::f32);
  EXPECT_NE(arena.values().raw_data(), arena.grads().raw_data());
  for (float v : arena.values().to_floats()) ASSERT_EQ(v, 0.0f);
  for (float v : arena.grads().to_floats()) ASSERT_EQ(v, 0.0f);

  for (int id = 0; id < arena.count(); ++id) {
    Tensor value = arena.value(id);
    Tensor grad = arena.grad(id);
    EXPECT_EQ(value.raw_data(), static_cast<void*>(arena.values().data<float>() + arena.offset(id))) << id;
    EXPECT_EQ(grad.raw_data(), static_cast<void*>(arena.grads().data<float>() + arena.offset(id))) << id;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(value.raw_data()) % 64, 0u) << id;
  }
  EXPECT_EQ(arena.value(0).shape(), (Shape{3, 5}));
  EXPECT_EQ(arena.grad(3).shape(), (Shape{17}));

  // writes through a view land in the flat buffer, and the other way round
  arena.value(1).data<float>()[2] = 3.5f;
  EXPECT_EQ(arena.values().data<float>()[18], 3.5f);
  arena.grads().data<float>()[48 + 16] = -2.0f;
  EXPECT_EQ(arena.grad(3).data<float>()[16], -2.0f);
  EXPECT_EQ(arena.grads().data<float>()[18], 0.0f) << "values and grads are separate buffers";
}

TEST(ParameterArena, FindAndNames) {
  ParameterArena arena = make_arena();
  EXPECT_EQ(arena.find("a"), 0);
  EXPECT_EQ(arena.find("d"), 3);
  EXPECT_EQ(arena.find("e"), -1);
  EXPECT_EQ(arena.find(""), -1);
  EXPECT_EQ(arena.name(0), "a");
}

TEST(ParameterArena, ZeroGradsLeavesValues) {
  ParameterArena arena = make_arena();
  arena.allocate(Device::cpu());
  for (int64_t i = 0; i < arena.total_elements(); ++i) {
    arena.values().data<float>()[i] = 1.0f;
    arena.grads().data<float>()[i] = 2.0f;
  }
  arena.zero_grads();
  for (float g : arena.grads().to_floats()) ASSERT_EQ(g, 0.0f);
  for (float v : arena.values().to_floats()) ASSERT_EQ(v, 1.0f);
}

TEST(ParameterArena, ContractViolationsAreInternalErrors) {
  ParameterArena arena = make_arena();
  expect_internal([&] { arena.add("b", {4}); }, "parameter 'b' declared twice");
  EXPECT_EQ(arena.count(), 4);
  expect_internal([&] { arena.value(0); }, "value() before allocate()");
  expect_internal([&] { arena.grad(0); }, "grad() before allocate()");
  arena.allocate(Device::cpu());
  expect_internal([&] { arena.add("e", {4}); }, "add('e') after allocate()");
  expect_internal([&] { arena.allocate(Device::cpu()); }, "allocate() twice");
  EXPECT_EQ(arena.count(), 4);
  EXPECT_EQ(arena.total_elements(), 80);
}

TEST(ParameterArena, AllocateOnCudaFailsClearlyWithoutCuda) {
  ParameterArena arena = make_arena();
  testing::expect_invalid_input([&] { arena.allocate(Device::cuda(0)); }, "built without CUDA");
}

}  // namespace joule
