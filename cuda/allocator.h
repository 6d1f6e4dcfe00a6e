// CachingAllocator: device memory for one GPU without cudaMalloc in the steady state. Requests are
// rounded up (512 B granules below 1 MiB, 1 MiB granules above) and served from a free list of
// blocks of exactly that rounded size; a freed block goes back to its list, not to the driver. So
// a training step that allocates the same sizes every step calls cudaMalloc only during the first
// one. Blocks are stream-ordered on the one compute stream that uses them (DeviceState), so a block
// freed while a kernel still reads it is only reused by later work on that stream. When cudaMalloc
// fails the cache is released to the driver and the allocation retried once.
// One thread at a time (the Context's), like the rest of a Context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace joule {

struct AllocatorStats {
  uint64_t device_allocations = 0;  // cudaMalloc calls that succeeded
  uint64_t requests = 0;            // allocate() calls
  size_t reserved_bytes = 0;        // held from the driver (in use + cached)
  size_t in_use_bytes = 0;
};

class CachingAllocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);
  void release(void* pointer);  // back to the cache (a pointer from allocate)
  void release_cached();        // cudaFree of every cached block
  const AllocatorStats& stats() const { return stats_; }
  static size_t rounded(size_t bytes);

 private:
  int device_;
  std::map<size_t, std::vector<void*>> free_;  // rounded size → cached blocks
  std::map<void*, size_t> in_use_;             // pointer → rounded size
  AllocatorStats stats_;
};

}  // namespace joule
