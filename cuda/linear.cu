// See linear.h. Row-major tensors are column-major transposes to cuBLAS: with A_rm[m, n] ≡ Aᵀ_cm,
//   y[N, OUT]  = x · Wᵀ   ⇔  yᵀ = W_cmᵀ · x_cm   gemm(T, N, m=OUT, n=N,  k=IN)
//   dx[N, IN]  = dy · W   ⇔  dxᵀ = W_cm · dy_cm   gemm(N, N, m=IN,  n=N,  k=OUT)
//   dW[OUT, IN] = dyᵀ · x ⇔  dWᵀ = x_cm · dy_cmᵀ  gemm(N, T, m=IN,  n=OUT, k=N), β = 1 to accumulate.
#include "cuda/linear.h"

#include <cuda_bf16.h>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/tensor_check.h"

namespace joule::cuda {
namespace {

template <class T>
__global__ void add_bias_kernel(T* y, const T* bias, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    y[i] = static_cast<T>(static_cast<float>(y[i]) + static_cast<float>(bias[i % cols]));
}

// dbias[c] (+)= Σ_r dy[r, c]: one thread per column (consecutive threads read consecutive columns of
// a row: coalesced), rows in order, fp32 sums.
template <class T>
__global__ void bias_gradient_kernel(T* dbias, const T* dy, int64_t rows, int64_t cols, bool accumulate) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < cols; c += int64_t{gridDim.x} * blockDim.x) {
    float sum = accumulate ? static_cast<float>(dbias[c]) : 0.0f;
    for (int64_t r = 0; r < rows; ++r) sum += static_cast<float>(dy[r * cols + c]);
    dbias[c] = static_cast<T>(sum);
  }
}

cudaDataType_t blas_type(DType dtype) { return dtype == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F; }

// C_cm[m, n] = α op(A) op(B) + β C, column-major, fp32 accumulation (strict for f32 data).
void gemm(Context& ctx, DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const void* A,
          int64_t lda, const void* B, int64_t ldb, float beta, void* C, int64_t ldc) {
  const float alpha = 1.0f;
  const cudaDataType_t type = blas_type(dtype);
  JOULE_CUBLAS_CHECK(cublasGemmEx(
      device_state(ctx).blas(), trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, A, type, static_cast<int>(lda), B, type,
      static_cast<int>(ldb), &beta, C, type, static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

template <class T>
T* as(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

}  // namespace

void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "cuda::linear_forward";
  check_gpu_tensor(ctx, x, op, "x", 2, {DType::f32, DType::bf16});
  check_gpu_tensor(ctx, weight, op, "weight", 2, {x.dtype()});
  const int64_t N = x.size(0), IN = x.size(1), OUT = weight.size(0);
  JOULE_CHECK(weight.size(1) == IN, op, ": weight ", weight.describe(), " must be [OUT, ", IN, "] for x ",
              x.describe());
  if (bias.defined()) {
    check_gpu_tensor(ctx, bias, op, "bias", 1, {x.dtype()});
    JOULE_CHECK(bias.size(0) == OUT, op, ": bias ", bias.describe(), " must have OUT = ", OUT, " elements");
  }
  ensure_tensor(ctx, y, {N, OUT}, x.dtype());
  if (N == 0) return;
  gemm(ctx, x.dtype(), true, false, OUT, N, IN, weight.raw_data(), IN, x.raw_data(), IN, 0.0f, y.raw_data(), OUT);
  if (!bias.defined()) return;
  cudaStream_t stream = device_state(ctx).stream();
  if (x.dtype() == DType::f32) {
    add_bias_kernel<<<blocks_for(N * OUT), 256, 0, stream>>>(as<float>(y), as<const float>(bias), N, OUT);
  } else {
    add_bias_kernel<<<blocks_for(N * OUT), 256, 0, stream>>>(as<__nv_bfloat16>(y), as<const __nv_bfloat16>(bias), N,
                                                             OUT);
  }
  JOULE_CUDA_CHECK(cudaGetLastError());
}

void linear_backward(Context& ctx, Tensor* dx, Tensor& dweight, Tensor* dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, GradMode mode) {
  const char* op = "cuda::linear_backward";
  check_gpu_tensor(ctx, dy, op, "dy", 2, {DType::f32, DType::bf16});
  const DType dtype = dy.dtype();
  check_gpu_tensor(ctx, x, op, "x", 2, {dtype});
  check_gpu_tensor(ctx, weight, op, "weight", 2, {dtype});
  check_gpu_tensor(ctx, dweight, op, "dweight", 2, {dtype});
  const int64_t N = x.size(0), IN = x.size(1), OUT = weight.size(0);
  JOULE_CHECK(dy.size(0) == N && dy.size(1) == OUT, op, ": dy ", dy.describe(), " must be [", N, ", ", OUT, "]");
  JOULE_CHECK(dweight.shape() == weight.shape(), op, ": dweight ", dweight.describe(), " must match weight ",
              weight.describe());
  const bool accumulate = mode == GradMode::accumulate;
  if (N > 0) {
    gemm(ctx, dtype, false, true, IN, OUT, N, x.raw_data(), IN, dy.raw_data(), OUT, accumulate ? 1.0f : 0.0f,
         dweight.raw_data(), IN);
  } else if (!accumulate) {
    JOULE_CUDA_CHECK(cudaMemsetAsync(dweight.raw_data(), 0, dweight.nbytes(), device_state(ctx).stream()));
  }
  if (dbias != nullptr) {
    check_gpu_tensor(ctx, *dbias, op, "dbias", 1, {dtype});
    JOULE_CHECK(dbias->size(0) == OUT, op, ": dbias ", dbias->describe(), " must have OUT = ", OUT, " elements");
    cudaStream_t stream = device_state(ctx).stream();
    if (dtype == DType::f32) {
      bias_gradient_kernel<<<blocks_for(OUT), 256, 0, stream>>>(as<float>(*dbias), as<const float>(dy), N, OUT,
                                                                accumulate);
    } else {
      bias_gradient_kernel<<<blocks_for(OUT), 256, 0, stream>>>(as<__nv_bfloat16>(*dbias), as<const __nv_bfloat16>(dy),
                                                                N, OUT, accumulate);
    }
    JOULE_CUDA_CHECK(cudaGetLastError());
  }
  if (dx == nullptr) return;
  ensure_tensor(ctx, *dx, {N, IN}, dtype);
  if (N == 0) return;
  gemm(ctx, dtype, false, false, IN, N, OUT, weight.raw_data(), IN, dy.raw_data(), OUT, 0.0f, dx->raw_data(), IN);
}

}  // namespace joule::cuda
