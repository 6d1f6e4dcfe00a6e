// Embedding: row copies for a 2-D id tensor, gradient check of the table, scatter-add of repeated
// ids (overwrite zeroes untouched rows, accumulate adds), the threaded backward against a double
// reference and bit-identical to the single-threaded one, errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/context.h"
#include "ops/embedding.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"

namespace joule {
namespace {

using testing::expect_invalid_input;
using testing::fake_cuda_tensor;
using testing::random_tensor;

Tensor ids_tensor(const std::vector<int32_t>& values, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::i32);
  for (size_t i = 0; i < values.size(); ++i) t.data<int32_t>()[i] = values[i];
  return t;
}

// dtable[v, d] = initial + Σ_{k: ids[k] = v} dy[k, d], in double.
std::vector<double> scatter_reference(const Tensor& dy, const Tensor& ids, int64_t D,
                                      const std::vector<float>& initial) {
  std::vector<double> out(initial.begin(), initial.end());
  for (int64_t k = 0; k < ids.numel(); ++k) {
    for (int64_t d = 0; d < D; ++d) out[ids.data<int32_t>()[k] * D + d] += dy.data<float>()[k * D + d];
  }
  return out;
}

}  // namespace

TEST(Embedding, ForwardCopiesTableRows) {
  Context ctx = make_cpu_context(1, 1);
  Tensor table = random_tensor({5, 3}, 1);
  Tensor ids = ids_tensor({4, 0, 4, 2, 1, 3}, {2, 3});
  Tensor y;
  embedding_forward(ctx, y, ids, table);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 3}));
  for (int k = 0; k < 6; ++k) {
    for (int d = 0; d < 3; ++d) {
      EXPECT_EQ(y.data<float>()[k * 3 + d], table.data<float>()[ids.data<int32_t>()[k] * 3 + d]) << k << ", " << d;
    }
  }
}

TEST(Embedding, GradientCheck) {
  Context ctx = make_cpu_context(1, 1);
  Tensor table = random_tensor({6, 4}, 2);
  Tensor ids = ids_tensor({1, 3, 1, 5, 0, 1, 3, 3}, {2, 4});  // repeats; row 2 and 4 unused
  Tensor y, dtable = Tensor::zeros({6, 4});
  testing::check_gradients(
      [&] {
        embedding_forward(ctx, y, ids, table);
        return y;
      },
      [&](const Tensor& dy) {
        embedding_backward(ctx, dtable, dy, ids, GradMode::overwrite);
        return std::vector<Tensor>{dtable};
      },
      {{"table", &table}});
}

TEST(Embedding, BackwardScatterAddsRepeatedIds) {
  Context ctx = make_cpu_context(1, 1);
  const int64_t V = 5, D = 3;
  Tensor ids = ids_tensor({2, 0, 2, 2, 4}, {5});
  Tensor dy = random_tensor({5, D}, 3);
  Tensor dtable = Tensor::from_floats(std::vector<float>(V * D, 7.0f), {V, D});  // stale values
  embedding_backward(ctx, dtable, dy, ids, GradMode::overwrite);
  const std::vector<double> want = scatter_reference(dy, ids, D, std::vector<float>(V * D, 0.0f));
  for (int64_t i = 0; i < V * D; ++i) EXPECT_NEAR(dtable.data<float>()[i], want[i], 1e-6) << i;
  EXPECT_EQ(dtable.data<float>()[1 * D], 0.0f) << "overwrite must clear rows no id points to";

  const std::vector<float> before = dtable.to_floats();
  embedding_backward(ctx, dtable, dy, ids, GradMode::accumulate);
  const std::vector<double> want_acc = scatter_reference(dy, ids, D, before);
  for (int64_t i = 0; i < V * D; ++i) EXPECT_NEAR(dtable.data<float>()[i], want_acc[i], 1e-6) << i;
}

TEST(Embedding, ThreadedBackwardMatchesReferenceAndIsDeterministic) {
  const int64_t V = 40, D = 256, M = 200;  // M·D > 32768: the threaded column-block path
  std::vector<int32_t> values(M);
  for (int64_t k = 0; k < M; ++k) values[k] = static_cast<int32_t>((k * k + 3 * k) % 11);  // heavy repeats
  Tensor ids = ids_tensor(values, {4, 50});
  Tensor dy = random_tensor({4, 50, D}, 4);
  Tensor serial = Tensor::zeros({V, D}), threaded = Tensor::zeros({V, D});
  Context one = make_cpu_context(1, 1);
  embedding_backward(one, serial, dy, ids, GradMode::overwrite);
  Context two = make_cpu_context(2, 1);
  embedding_backward(two, threaded, dy, ids, GradMode::overwrite);
  const std::vector<double> want = scatter_reference(dy, ids, D, std::vector<float>(V * D, 0.0f));
  for (int64_t i = 0; i < V * D; ++i) ASSERT_NEAR(threaded.data<float>()[i], want[i], 1e-5) << i;
  EXPECT_EQ(threaded.to_floats(), serial.to_floats());

  Tensor y;
  embedding_forward(two, y, ids, random_tensor({V, D}, 5));
  ASSERT_EQ(y.shape(), (Shape{4, 50, D}));
}

TEST(Embedding, RejectsBadIdsShapesAndDevices) {
  Context ctx = make_cpu_context(1, 1);
  Tensor table = random_tensor({5, 3}, 1), y;
  expect_invalid_input([&] { embedding_forward(ctx, y, ids_tensor({0, 3, 7, 1}, {2, 2}), table); },
                       "embedding_forward: ids[2] = 7 is outside the table's [0, 5)");
  expect_invalid_input([&] { embedding_forward(ctx, y, ids_tensor({-1}, {1}), table); },
                       "ids[0] = -1 is outside the table's [0, 5)");
  expect_invalid_input([&] { embedding_forward(ctx, y, Tensor::zeros({2}), table); },
                       "embedding_forward: ids must be i32");
  expect_invalid_input([&] { embedding_forward(ctx, y, ids_tensor({0}, {1}), random_tensor({15}, 1)); },
                       "embedding_forward: table must have 2 dims");
  expect_invalid_input([&] { embedding_forward(ctx, y, ids_tensor({0}, {1}), fake_cuda_tensor({5, 3})); },
                       "embedding_forward: built without CUDA (tensor on cuda:0)");

  Tensor dtable = Tensor::zeros({5, 3});
  expect_invalid_input(
      [&] { embedding_backward(ctx, dtable, random_tensor({2, 4}, 2), ids_tensor({0, 1}, {2}), GradMode::overwrite); },
      "embedding_backward: dy must be [S..., D] = [2, 3], got f32[2, 4] on cpu");
  expect_invalid_input(
      [&] { embedding_backward(ctx, dtable, random_tensor({2, 3}, 2), ids_tensor({0, 5}, {2}), GradMode::overwrite); },
      "embedding_backward: ids[1] = 5 is outside the table's [0, 5)");
}

}  // namespace joule
