// Tensor and Storage: shape bookkeeping, views (reshape, rows) over shared storage, allocation and
// reuse (ensure_tensor), typed access, and the op-contract checks with their messages.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "tests/support/expect_error.h"

namespace joule {
namespace {

using testing::expect_internal;

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;

Tensor iota(const Shape& shape) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_floats(v, shape);
}

}  // namespace

TEST(Tensor, ShapeStridesNumelBytes) {
  Tensor t = Tensor::empty({2, 3, 4});
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(-3), 2);
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_EQ(t.offset_bytes(), 0u);
  EXPECT_GE(t.storage().bytes(), t.nbytes());
  expect_internal([&] { t.size(3); }, "dim 3 out of range");
  expect_internal([&] { t.size(-4); }, "dim -4 out of range");

  Tensor h = Tensor::empty({5, 7}, DType::f16);
  EXPECT_EQ(h.nbytes(), 70u);
  EXPECT_EQ(Tensor::empty({3}, DType::i64).nbytes(), 24u);
  EXPECT_EQ(Tensor::empty({3}, DType::u8).strides(), (Shape{1}));

  Tensor scalar = Tensor::empty({});
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.strides(), Shape{});
  Tensor none = Tensor::empty({4, 0, 2});
  EXPECT_EQ(none.numel(), 0);
  EXPECT_EQ(none.nbytes(), 0u);
  EXPECT_TRUE(none.defined());
  EXPECT_EQ(none.strides(), (Shape{0, 2, 1}));

  EXPECT_EQ(shape_str({128, 784}), "[128, 784]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, CpuStorageIs64ByteAligned) {
  for (int64_t n : {0, 1, 3, 17, 1000}) {
    for (DType dtype : {DType::f32, DType::u8, DType::bf16}) {
      Tensor t = Tensor::empty({n}, dtype);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n << " " << dtype_name(dtype);
    }
  }
  Storage s(5, Device::cpu());
  EXPECT_EQ(s.bytes(), 5u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s.data()) % 64, 0u);
}

TEST(Tensor, EmptyZerosAndFromFloats) {
  Tensor z = Tensor::zeros({3, 5});
  for (float v : z.to_floats()) EXPECT_EQ(v, 0.0f);
  Tensor zi = Tensor::zeros({4}, DType::i32);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(zi.data<int32_t>()[i], 0);

  Tensor f = Tensor::from_floats({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(f.shape(), (Shape{2, 3}));
  EXPECT_EQ(f.to_floats(), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  expect_invalid_input([] { Tensor::from_floats({1, 2, 3}, {2, 2}); }, {"from_floats", "3 values", "[2, 2]"});
  expect_invalid_input([] { Tensor::empty({2, -1}); }, {"negative dimension", "[2, -1]"});
  expect_invalid_input([] { Tensor::empty({2}, DType::f32, Device::cuda(0)); }, {"cuda:0", "built without CUDA"});
}

TEST(Tensor, ZeroAndCopyFrom) {
  Tensor a = iota({2, 3});
  Tensor b = Tensor::empty({2, 3});
  b.copy_from(a);
  EXPECT_EQ(b.to_floats(), a.to_floats());
  EXPECT_NE(b.raw_data(), a.raw_data());
  a.zero_();
  EXPECT_EQ(a.to_floats(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(b.to_floats()[5], 5.0f);
  Tensor wrong = Tensor::empty({3, 2});
  expect_internal([&] { wrong.copy_from(b); }, "copy_from f32[2, 3] on cpu into f32[3, 2] on cpu");
}

TEST(Tensor, ReshapeSharesStorage) {
  Tensor t = Tensor::zeros({2, 3});
  Tensor v = t.reshape({3, -1});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  v.data<float>()[5] = 4.0f;
  EXPECT_EQ(t.data<float>()[5], 4.0f);
  EXPECT_EQ(v.raw_data(), t.raw_data());
  EXPECT_EQ(t.reshape({-1}).shape(), (Shape{6}));
  EXPECT_EQ(t.reshape({-1, 1, 2}).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(t.reshape({6, 1}).shape(), (Shape{6, 1}));
}

TEST(Tensor, ReshapeErrors) {
  Tensor t = Tensor::zeros({2, 3});
  expect_invalid_input([&] { t.reshape({-1, -1}); }, {"reshape [2, 3] to [-1, -1]", "more than one -1"});
  expect_invalid_input([&] { t.reshape({4, 2}); }, {"reshape [2, 3] (6 elements) to [4, 2]"});
  expect_invalid_input([&] { t.reshape({4, -1}); }, {"reshape [2, 3] to [4, -1]"});
  expect_invalid_input([&] { t.reshape({0, -1}); }, {"reshape [2, 3] to [0, -1]"});
  // other negative sizes are caller errors too, even where their product happens to match
  expect_invalid_input([&] { t.reshape({-2, -3}); }, {"reshape [2, 3] to [-2, -3]"});
  expect_invalid_input([&] { t.reshape({-2, -1}); }, {"reshape [2, 3] to [-2, -1]"});
}

TEST(Tensor, RowsAreViewsAtTheRightOffset) {
  Tensor t = iota({4, 3});
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(r.offset_bytes(), 3 * sizeof(float));
  EXPECT_EQ(r.raw_data(), static_cast<void*>(t.data<float>() + 3));
  EXPECT_EQ(r.to_floats(), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  r.data<float>()[0] = -1.0f;
  EXPECT_EQ(t.data<float>()[3], -1.0f);
  EXPECT_EQ(r.storage().data(), t.storage().data());

  // rows of rows: offsets add up
  Tensor rr = r.rows(1, 2);
  EXPECT_EQ(rr.offset_bytes(), 6 * sizeof(float));
  EXPECT_EQ(rr.to_floats(), (std::vector<float>{6, 7, 8}));
  // a reshape of a row slice keeps its offset
  EXPECT_EQ(r.reshape({-1}).to_floats()[5], 8.0f);

  EXPECT_EQ(t.rows(4, 4).numel(), 0);
  EXPECT_EQ(t.rows(0, 4).to_floats(), t.to_floats());
  Tensor h = Tensor::zeros({3, 5}, DType::f16);
  EXPECT_EQ(h.rows(2, 3).offset_bytes(), 2u * 5 * 2);

  expect_internal([&] { t.rows(2, 5); }, "rows(2, 5) of [4, 3]");
  expect_internal([&] { t.rows(3, 2); }, "rows(3, 2)");
  expect_internal([&] { t.rows(-1, 2); }, "rows(-1, 2)");
}

TEST(Tensor, ViewsCannotExceedTheirStorage) {
  Storage s(16, Device::cpu());
  EXPECT_EQ(Tensor(s, 8, {2}, DType::f32).numel(), 2);
  expect_internal([&] { Tensor(s, 8, {3}, DType::f32); }, "exceeds storage of 16 bytes");
  expect_internal([&] { Tensor(s, 0, {-1}, DType::f32); }, "negative dimension");
}

TEST(Tensor, EnsureTensorKeepsOrReallocates) {
  Tensor t;
  ensure_tensor(t, {2, 3}, DType::f32, Device::cpu());
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  void* first = t.raw_data();
  t.data<float>()[0] = 7.0f;

  ensure_tensor(t, {2, 3}, DType::f32, Device::cpu());
  EXPECT_EQ(t.raw_data(), first);
  EXPECT_EQ(t.data<float>()[0], 7.0f) << "a kept buffer keeps its contents";

  Tensor alias = t;  // keeps the first allocation alive so a new one cannot reuse its address
  ensure_tensor(t, {3, 2}, DType::f32, Device::cpu());
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_NE(t.raw_data(), first);

  void* second = t.raw_data();
  Tensor alias2 = t;
  ensure_tensor(t, {3, 2}, DType::i32, Device::cpu());
  EXPECT_EQ(t.dtype(), DType::i32);
  EXPECT_NE(t.raw_data(), second);

  Tensor fake = fake_cuda_tensor({3, 2});
  ensure_tensor(fake, {3, 2}, DType::f32, Device::cpu());
  EXPECT_EQ(fake.device(), Device::cpu());
  EXPECT_EQ(fake.shape(), (Shape{3, 2}));

  Tensor cpu = Tensor::empty({3, 2});
  expect_invalid_input([&] { ensure_tensor(cpu, {3, 2}, DType::f32, Device::cuda(0)); }, "built without CUDA");
}

TEST(Tensor, DataWithTheWrongTypeIsAnInternalError) {
  Tensor t = Tensor::zeros({2});
  EXPECT_NE(t.data<float>(), nullptr);
  expect_internal([&] { t.data<int32_t>(); }, "tensor holds f32, accessed as i32");
  Tensor h = Tensor::zeros({2}, DType::f16);
  EXPECT_NE(h.data<Half>(), nullptr);
  expect_internal([&] { h.data<BFloat16>(); }, "tensor holds f16, accessed as bf16");
  expect_internal([&] { h.to_floats(); }, "accessed as f32");
}

TEST(Tensor, Describe) {
  EXPECT_EQ(Tensor::empty({128, 784}).describe(), "f32[128, 784] on cpu");
  EXPECT_EQ(Tensor::empty({3}, DType::bf16).describe(), "bf16[3] on cpu");
  EXPECT_EQ(Tensor::empty({}, DType::i64).describe(), "i64[] on cpu");
  EXPECT_EQ(fake_cuda_tensor({2, 2}).describe(), "f32[2, 2] on cuda:0");
}

TEST(Tensor, CheckCpuTensorMessagesNameOpAndArgument) {
  Tensor x = Tensor::zeros({2, 3});
  check_cpu_tensor(x, "my_op", "input", 2);
  check_cpu_tensor(x, "my_op", "input", -1);  // any rank
  check_cpu_tensor(Tensor::zeros({2, 3, 4, 5}), "my_op", "input", -1);
  check_cpu_tensor(Tensor::zeros({}), "my_op", "input", -1);
  check_cpu_tensor(Tensor::zeros({4}, DType::i32), "my_op", "labels", 1, DType::i32);

  expect_invalid_input([&] { check_cpu_tensor(Tensor(), "my_op", "input", 2); }, "my_op: input is undefined");
  expect_invalid_input([&] { check_cpu_tensor(x, "my_op", "input", 3); },
                       "my_op: input must have 3 dims, got f32[2, 3] on cpu");
  expect_invalid_input([&] { check_cpu_tensor(x, "my_op", "labels", 2, DType::i32); },
                       {"my_op: labels must be i32, got f32[2, 3] on cpu", "not implemented"});
  expect_invalid_input([&] { check_cpu_tensor(fake_cuda_tensor({2, 3}), "my_op", "input", 2); },
                       {"my_op", "built without CUDA", "cuda:0"});
  expect_invalid_input([&] { check_cpu_tensor(fake_cuda_tensor({2, 3}), "my_op", "input", -1); },
                       "built without CUDA");
  // check_tensor alone does not care about the device
  check_tensor(fake_cuda_tensor({2, 3}), "my_op", "input", 2, DType::f32);
}

TEST(Tensor, CheckShapeAndSameDevice) {
  Tensor w = Tensor::zeros({10, 783});
  check_shape(w, "linear_forward", "weight", "[OUT, IN]", {10, 783});
  expect_invalid_input([&] { check_shape(w, "linear_forward", "weight", "[OUT, IN]", {10, 784}); },
                       "linear_forward: weight must be [OUT, IN] = [10, 784], got f32[10, 783] on cpu");
  check_same_device(w, Tensor::zeros({1}), "my_op");
  expect_invalid_input([&] { check_same_device(w, fake_cuda_tensor({1}), "my_op"); },
                       "my_op: tensors on cpu and cuda:0");
}

}  // namespace joule
