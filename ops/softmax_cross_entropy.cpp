// Softmax + cross-entropy, CPU reference. One pass per row: max, exp(l − max) into probs (Eigen's
// vectorized exp), normalize; the row's loss is log Σexp + max − l[label], formed in double so a
// loss of 2e4 nats (logits at ±1e4) keeps its digits. Rows are split over OpenMP threads.
//
// Dimension letters: N rows (batch), C classes.
#include "ops/softmax_cross_entropy.h"
#include "ops/gpu_ops.h"

#include <cmath>

// GCC 12's AVX-512 intrinsics header trips -Wmaybe-uninitialized inside Eigen's packet code
// (a false positive: `__m512 __Y = __Y;` in avx512fintrin.h); silence it for Eigen only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace joule {
namespace {

// Checks logits/probs [N, C] and labels [N] with every label in [0, C); returns C.
int64_t check_rows_and_labels(const Tensor& scores, const char* scores_name, const Tensor& labels, const char* op) {
  check_cpu_tensor(scores, op, scores_name, 2, DType::f32);
  check_cpu_tensor(labels, op, "labels", 1, DType::i32);
  const int64_t N = scores.size(0), C = scores.size(1);
  JOULE_CHECK(labels.size(0) == N, op, ": labels must be [N] = [", N, "], got ", labels.describe());
  const int32_t* pl = labels.data<int32_t>();
  for (int64_t n = 0; n < N; ++n) {
    JOULE_CHECK(pl[n] >= 0 && pl[n] < C, op, ": labels[", n, "] = ", pl[n], " is outside [0, ", C, ")");
  }
  return C;
}

}  // namespace

double softmax_cross_entropy_forward(Context& ctx, Tensor& probs, const Tensor& logits, const Tensor& labels) {
  if (!ctx.device.is_cpu())
    return gpu_ops(ctx, "softmax_cross_entropy_forward").softmax_cross_entropy_forward(ctx, probs, logits, labels);
  const int64_t C = check_rows_and_labels(logits, "logits", labels, "softmax_cross_entropy_forward");
  const int64_t N = logits.size(0);
  ensure_tensor(ctx, probs, {N, C}, DType::f32);
  const float* pz = logits.data<float>();
  const int32_t* pl = labels.data<int32_t>();
  float* pp = probs.data<float>();
  double total = 0;
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) reduction(+ : total) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    Eigen::Map<const Eigen::ArrayXf> z(pz + n * C, C);
    Eigen::Map<Eigen::ArrayXf> p(pp + n * C, C);
    const float max = z.maxCoeff();
    p = (z - max).exp();
    const float sum = p.sum();  // ≥ 1: the maximum contributes exp(0)
    p *= 1.0f / sum;
    total += std::log(static_cast<double>(sum)) + static_cast<double>(max) - static_cast<double>(z[pl[n]]);
  }
  return total;
}

void softmax_cross_entropy_backward(Context& ctx, Tensor& dlogits, const Tensor& probs, const Tensor& labels,
                                    float scale) {
  if (!ctx.device.is_cpu())
    return gpu_ops(ctx, "softmax_cross_entropy_backward")
        .softmax_cross_entropy_backward(ctx, dlogits, probs, labels, scale);
  const int64_t C = check_rows_and_labels(probs, "probs", labels, "softmax_cross_entropy_backward");
  const int64_t N = probs.size(0);
  ensure_tensor(ctx, dlogits, probs.shape(), DType::f32);  // a no-op when dlogits is probs
  const float* pp = probs.data<float>();
  const int32_t* pl = labels.data<int32_t>();
  float* pd = dlogits.data<float>();
#pragma omp parallel for num_threads(ctx.num_threads) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const float* p = pp + n * C;
    float* d = pd + n * C;
    for (int64_t c = 0; c < C; ++c) d[c] = p[c] * scale;
    d[pl[n]] -= scale;
  }
}

int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const int64_t C = check_rows_and_labels(logits, "logits", labels, "count_correct");
  const int64_t N = logits.size(0);
  const float* pz = logits.data<float>();
  const int32_t* pl = labels.data<int32_t>();
  int64_t correct = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* z = pz + n * C;
    int64_t best = 0;
    for (int64_t c = 1; c < C; ++c) {
      if (z[c] > z[best]) best = c;
    }
    correct += best == pl[n];
  }
  return correct;
}

int64_t count_correct(Context& ctx, const Tensor& logits, const Tensor& labels) {
  if (!ctx.device.is_cpu()) return gpu_ops(ctx, "count_correct").count_correct(ctx, logits, labels);
  return count_correct(logits, labels);
}

}  // namespace joule
