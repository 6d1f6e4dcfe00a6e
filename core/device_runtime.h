// DeviceRuntime: what a Context on an accelerator carries for core and ops — memory on the device and
// copies in and out — without any CUDA header (cuda/device.h implements it). The CPU needs none:
// a CPU context's runtime is null.
#pragma once

#include <cstddef>

#include "core/dtype.h"
#include "core/tensor.h"

namespace joule {

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual Device device() const = 0;
  // `bytes` on the device, from its pool; given back when the last tensor on it goes.
  virtual Storage allocate(size_t bytes) = 0;
  // dst = 0 (every byte), enqueued on the device's stream.
  virtual void fill_zero(const Tensor& dst) = 0;
  // dst = src, same shape and dtype, either on the device or on the host; returns once a host
  // destination holds the data and a host source may be reused.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
};

}  // namespace joule
