// Embedding, CPU reference.
//   forward:  one row copy per position, positions split over OpenMP threads.
//   backward: with overwrite the table is zeroed first (rows over threads); the scatter-add is
//             split over column blocks of the table, one per thread: each thread walks every id in
//             order and adds its own columns, so repeated ids never race and every element sums in
//             the same order whatever the thread count (deterministic).
//
// Dimension letters: S... the shape of ids, M = prod(S), V table rows, D embedding width.
#include "ops/embedding.h"

#include <algorithm>
#include <cstring>

namespace joule {
namespace {

void check_ids(const Tensor& ids, int64_t V, const char* op) {
  check_cpu_tensor(ids, op, "ids", -1, DType::i32);
  const int32_t* p = ids.data<int32_t>();
  for (int64_t k = 0; k < ids.numel(); ++k) {
    JOULE_CHECK(p[k] >= 0 && p[k] < V, op, ": ids[", k, "] = ", p[k], " is outside the table's [0, ", V,
                ") (flat position in ids ", ids.describe(), ")");
  }
}

}  // namespace

void embedding_forward(Context& ctx, Tensor& y, const Tensor& ids, const Tensor& table) {
  const char* op = "embedding_forward";
  check_cpu_tensor(table, op, "table", 2);
  const int64_t V = table.size(0), D = table.size(1);
  check_ids(ids, V, op);
  Shape y_shape = ids.shape();
  y_shape.push_back(D);
  ensure_tensor(ctx, y, y_shape, DType::f32);

  const int32_t* pid = ids.data<int32_t>();
  const float* pt = table.data<float>();
  float* py = y.data<float>();
  const int64_t M = ids.numel();
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(float);
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (M * D > 32768)
  for (int64_t k = 0; k < M; ++k) std::memcpy(py + k * D, pt + static_cast<int64_t>(pid[k]) * D, row_bytes);
}

void embedding_backward(Context& ctx, Tensor& dtable, const Tensor& dy, const Tensor& ids, GradMode mode) {
  const char* op = "embedding_backward";
  check_cpu_tensor(dtable, op, "dtable", 2);
  const int64_t V = dtable.size(0), D = dtable.size(1);
  check_ids(ids, V, op);
  Shape dy_shape = ids.shape();
  dy_shape.push_back(D);
  check_cpu_tensor(dy, op, "dy", -1);
  JOULE_CHECK(dy.shape() == dy_shape, op, ": dy must be [S..., D] = ", shape_str(dy_shape), ", got ", dy.describe());

  const int32_t* pid = ids.data<int32_t>();
  const float* pdy = dy.data<float>();
  float* pdt = dtable.data<float>();
  const int64_t M = ids.numel();
  // One column block per thread, 16 floats (a cache line) at least.
  const int64_t threads = std::max(1, ctx.num_threads);
  const int64_t width = std::max<int64_t>(16, ((D + threads - 1) / threads + 15) / 16 * 16);
  const int64_t blocks = D == 0 ? 0 : (D + width - 1) / width;
  if (mode == GradMode::overwrite) {
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (V * D > 32768)
    for (int64_t v = 0; v < V; ++v) std::memset(pdt + v * D, 0, static_cast<size_t>(D) * sizeof(float));
  }
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (M * D > 32768 && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * width, w = std::min(width, D - c0);
    for (int64_t k = 0; k < M; ++k) {
      const float* src = pdy + k * D + c0;
      float* dst = pdt + static_cast<int64_t>(pid[k]) * D + c0;
      for (int64_t j = 0; j < w; ++j) dst[j] += src[j];
    }
  }
}

}  // namespace joule
