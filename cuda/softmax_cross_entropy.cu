// See softmax_cross_entropy.h. Forward: one 256-thread block per row (max, then Σ exp, then probs;
// block reductions in shared memory in a fixed tree order), each row's loss into a scratch vector;
// then one block sums that vector (each thread a strided slice in order, then the tree): the same
// sum for the same inputs on every run.
#include "cuda/softmax_cross_entropy.h"

#include <cuda_bf16.h>

#include <cmath>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/tensor_check.h"

namespace joule::cuda {
namespace {

constexpr int kThreads = 256;

enum class Reduce { max, sum };

template <Reduce R>
__device__ float block_reduce(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      const float other = shared[threadIdx.x + half];
      shared[threadIdx.x] = R == Reduce::max ? fmaxf(shared[threadIdx.x], other) : shared[threadIdx.x] + other;
    }
    __syncthreads();
  }
  const float result = shared[0];
  __syncthreads();  // shared is reused by the next reduction
  return result;
}

template <class T>
__global__ void softmax_xent_rows(float* probs, float* row_loss, const T* logits, const int32_t* labels, int64_t C) {
  __shared__ float shared[kThreads];
  const int64_t row = blockIdx.x;
  const T* in = logits + row * C;
  float* out = probs + row * C;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) m = fmaxf(m, static_cast<float>(in[c]));
  m = block_reduce<Reduce::max>(m, shared);
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) {
    const float e = expf(static_cast<float>(in[c]) - m);
    out[c] = e;
    s += e;
  }
  s = block_reduce<Reduce::sum>(s, shared);
  for (int64_t c = threadIdx.x; c < C; c += kThreads) out[c] /= s;
  if (threadIdx.x == 0) {
    const int32_t label = labels[row];
    row_loss[row] = label >= 0 && label < C ? -(static_cast<float>(in[label]) - m - logf(s)) : NAN;
  }
}

__global__ void sum_rows(float* loss_sum, const float* row_loss, int64_t N) {
  __shared__ float shared[kThreads];
  float part = 0.0f;
  for (int64_t i = threadIdx.x; i < N; i += kThreads) part += row_loss[i];
  part = block_reduce<Reduce::sum>(part, shared);
  if (threadIdx.x == 0) *loss_sum = part;
}

__global__ void softmax_xent_backward(float* dlogits, const float* probs, const int32_t* labels, int64_t N, int64_t C,
                                      float scale) {
  const int64_t n = N * C;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / C, c = i % C;
    dlogits[i] = (probs[i] - (labels[row] == c ? 1.0f : 0.0f)) * scale;
  }
}

// One thread per row, the CPU's loop; integer atomics give the same count in any order.
__global__ void count_correct_kernel(unsigned long long* count, const float* logits, const int32_t* labels, int64_t N,
                                     int64_t C) {
  for (int64_t n = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; n < N; n += int64_t{gridDim.x} * blockDim.x) {
    const float* z = logits + n * C;
    int64_t best = 0;
    for (int64_t c = 1; c < C; ++c)
      if (z[c] > z[best]) best = c;
    if (best == labels[n]) atomicAdd(count, 1ull);
  }
}

}  // namespace

int64_t count_correct(Context& ctx, const Tensor& logits, const Tensor& labels) {
  const char* op = "cuda::count_correct";
  check_gpu_tensor(ctx, logits, op, "logits", 2, {DType::f32});
  check_gpu_tensor(ctx, labels, op, "labels", 1, {DType::i32});
  const int64_t N = logits.size(0), C = logits.size(1);
  JOULE_CHECK(labels.size(0) == N, op, ": labels must be [N] = [", N, "], got ", labels.describe());
  if (N == 0) return 0;
  Tensor count = zeros_tensor(ctx, {1}, DType::i64);
  count_correct_kernel<<<blocks_for(N), 256, 0, device_state(ctx).stream()>>>(
      static_cast<unsigned long long*>(count.raw_data()), logits.data<float>(), labels.data<int32_t>(), N, C);
  JOULE_CUDA_CHECK(cudaGetLastError());
  return to_host(ctx, count).data<int64_t>()[0];
}

void softmax_cross_entropy_forward(Context& ctx, Tensor& probs, Tensor& loss_sum, const Tensor& logits,
                                   const Tensor& labels) {
  const char* op = "cuda::softmax_cross_entropy_forward";
  check_gpu_tensor(ctx, logits, op, "logits", 2, {DType::f32, DType::bf16});
  check_gpu_tensor(ctx, labels, op, "labels", 1, {DType::i32});
  const int64_t N = logits.size(0), C = logits.size(1);
  JOULE_CHECK(labels.size(0) == N, op, ": labels must be [N] = [", N, "], got ", labels.describe());
  JOULE_CHECK(C >= 1, op, ": logits need at least one class, got ", logits.describe());
  ensure_tensor(ctx, probs, {N, C}, DType::f32);
  ensure_tensor(ctx, loss_sum, {1}, DType::f32);
  cudaStream_t stream = device_state(ctx).stream();
  if (N == 0) {
    JOULE_CUDA_CHECK(cudaMemsetAsync(loss_sum.raw_data(), 0, sizeof(float), stream));
    return;
  }
  Tensor row_loss = empty(ctx, {N});
  if (logits.dtype() == DType::f32) {
    softmax_xent_rows<<<static_cast<unsigned>(N), kThreads, 0, stream>>>(
        probs.data<float>(), row_loss.data<float>(), logits.data<float>(), labels.data<int32_t>(), C);
  } else {
    softmax_xent_rows<<<static_cast<unsigned>(N), kThreads, 0, stream>>>(
        probs.data<float>(), row_loss.data<float>(), static_cast<const __nv_bfloat16*>(logits.raw_data()),
        labels.data<int32_t>(), C);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
  sum_rows<<<1, kThreads, 0, stream>>>(loss_sum.data<float>(), row_loss.data<float>(), N);
  JOULE_CUDA_CHECK(cudaGetLastError());
}

void softmax_cross_entropy_backward(Context& ctx, Tensor& dlogits, const Tensor& probs, const Tensor& labels,
                                    float scale) {
  const char* op = "cuda::softmax_cross_entropy_backward";
  check_gpu_tensor(ctx, probs, op, "probs", 2, {DType::f32});
  check_gpu_tensor(ctx, labels, op, "labels", 1, {DType::i32});
  const int64_t N = probs.size(0), C = probs.size(1);
  JOULE_CHECK(labels.size(0) == N, op, ": labels must be [N] = [", N, "], got ", labels.describe());
  ensure_tensor(ctx, dlogits, {N, C}, DType::f32);  // a no-op when dlogits is probs
  if (N == 0) return;
  softmax_xent_backward<<<blocks_for(N * C), 256, 0, device_state(ctx).stream()>>>(
      dlogits.data<float>(), probs.data<float>(), labels.data<int32_t>(), N, C, scale);
  JOULE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace joule::cuda
