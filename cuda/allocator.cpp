// See allocator.h.
#include "cuda/allocator.h"

#include <cuda_runtime_api.h>

#include "cuda/check.h"

namespace joule {

size_t CachingAllocator::rounded(size_t bytes) {
  constexpr size_t small = 512, large = size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  const size_t granule = bytes < large ? small : large;
  return (bytes + granule - 1) / granule * granule;
}

void* CachingAllocator::allocate(size_t bytes) {
  ++stats_.requests;
  const size_t size = rounded(bytes);
  void* pointer = nullptr;
  auto cached = free_.find(size);
  if (cached != free_.end() && !cached->second.empty()) {
    pointer = cached->second.back();
    cached->second.pop_back();
  } else {
    JOULE_CUDA_CHECK(cudaSetDevice(device_));
    cudaError_t status = cudaMalloc(&pointer, size);
    if (status == cudaErrorMemoryAllocation) {  // give the cache back to the driver and retry once
      (void)cudaGetLastError();
      release_cached();
      status = cudaMalloc(&pointer, size);
    }
    JOULE_CHECK(status == cudaSuccess, "cuda:", device_, ": cannot allocate ", size, " bytes (", stats_.reserved_bytes,
                " reserved, ", stats_.in_use_bytes, " in use): ", cudaGetErrorString(status));
    ++stats_.device_allocations;
    stats_.reserved_bytes += size;
  }
  in_use_[pointer] = size;
  stats_.in_use_bytes += size;
  return pointer;
}

void CachingAllocator::release(void* pointer) {
  if (pointer == nullptr) return;
  const auto it = in_use_.find(pointer);
  JOULE_ASSERT(it != in_use_.end(), "CachingAllocator::release: ", pointer, " was not allocated here");
  stats_.in_use_bytes -= it->second;
  free_[it->second].push_back(pointer);
  in_use_.erase(it);
}

void CachingAllocator::release_cached() {
  cudaSetDevice(device_);
  for (auto& [size, blocks] : free_) {
    for (void* block : blocks) {
      cudaFree(block);
      stats_.reserved_bytes -= size;
    }
    blocks.clear();
  }
}

CachingAllocator::~CachingAllocator() {
  release_cached();
  cudaSetDevice(device_);
  for (const auto& [pointer, size] : in_use_) cudaFree(pointer);  // tensors outliving their context
}

}  // namespace joule
