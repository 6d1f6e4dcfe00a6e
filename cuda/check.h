// Error checks for the CUDA runtime, cuBLAS, cuDNN and NCCL: a failed call throws joule::Error
// (ErrorKind::internal) naming the call, the library's message and file:line.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "core/error.h"

#define JOULE_CUDA_CHECK(call)                                                                                    \
  do {                                                                                                            \
    const cudaError_t joule_cuda_status = (call);                                                                 \
    JOULE_ASSERT(joule_cuda_status == cudaSuccess, #call, " failed: ", cudaGetErrorName(joule_cuda_status), " (", \
                 cudaGetErrorString(joule_cuda_status), ")");                                                     \
  } while (0)

#define JOULE_CUBLAS_CHECK(call)                                              \
  do {                                                                        \
    const cublasStatus_t joule_cublas_status = (call);                        \
    JOULE_ASSERT(joule_cublas_status == CUBLAS_STATUS_SUCCESS, #call,         \
                 " failed: ", cublasGetStatusName(joule_cublas_status), " (", \
                 cublasGetStatusString(joule_cublas_status), ")");            \
  } while (0)

#define JOULE_CUDNN_CHECK(call)                                         \
  do {                                                                  \
    const cudnnStatus_t joule_cudnn_status = (call);                    \
    JOULE_ASSERT(joule_cudnn_status == CUDNN_STATUS_SUCCESS, #call,     \
                 " failed: ", cudnnGetErrorString(joule_cudnn_status)); \
  } while (0)
