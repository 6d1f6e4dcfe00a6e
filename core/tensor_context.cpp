// The Context forms of tensor allocation and copying (core/tensor.h): the CPU directly, other devices
// through the context's DeviceRuntime.
#include "core/context.h"
#include "core/device_runtime.h"
#include "core/tensor.h"

#include <cstring>

namespace joule {
namespace {

DeviceRuntime& runtime(const Context& ctx) {
  JOULE_CHECK(ctx.device_runtime != nullptr && ctx.device_runtime->device() == ctx.device, "a context on ",
              ctx.device.str(), " without its device runtime (built without CUDA, or not made by make_cuda_context)");
  return *ctx.device_runtime;
}

}  // namespace

Tensor empty_tensor(const Context& ctx, const Shape& shape, DType dtype) {
  if (ctx.device.is_cpu()) return Tensor::empty(shape, dtype);
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return Tensor(runtime(ctx).allocate(bytes), 0, shape, dtype);
}

Tensor zeros_tensor(const Context& ctx, const Shape& shape, DType dtype) {
  if (ctx.device.is_cpu()) return Tensor::zeros(shape, dtype);
  Tensor t = empty_tensor(ctx, shape, dtype);
  zero_tensor(ctx, t);
  return t;
}

void ensure_tensor(const Context& ctx, Tensor& tensor, const Shape& shape, DType dtype) {
  if (tensor.defined() && tensor.shape() == shape && tensor.dtype() == dtype && tensor.device() == ctx.device) return;
  tensor = empty_tensor(ctx, shape, dtype);
}

Tensor to_context_device(const Context& ctx, const Tensor& host, Tensor& buffer) {
  if (host.device() == ctx.device) return host;
  ensure_tensor(ctx, buffer, host.shape(), host.dtype());
  copy_tensor(ctx, buffer, host);
  return buffer;
}

void zero_tensor(const Context& ctx, const Tensor& t) {
  if (t.device().is_cpu()) {
    std::memset(t.raw_data(), 0, t.nbytes());
    return;
  }
  JOULE_CHECK(t.device() == ctx.device, "zero_tensor: ", t.describe(), " with a context on ", ctx.device.str());
  runtime(ctx).fill_zero(t);
}

void copy_tensor(const Context& ctx, const Tensor& dst, const Tensor& src) {
  JOULE_CHECK(dst.shape() == src.shape() && dst.dtype() == src.dtype(), "copy_tensor: ", src.describe(), " into ",
              dst.describe());
  if (dst.device().is_cpu() && src.device().is_cpu()) {
    std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
    return;
  }
  JOULE_CHECK(
      (dst.device().is_cpu() || dst.device() == ctx.device) && (src.device().is_cpu() || src.device() == ctx.device),
      "copy_tensor: ", src.describe(), " into ", dst.describe(), " with a context on ", ctx.device.str());
  runtime(ctx).copy(dst, src);
}

}  // namespace joule
