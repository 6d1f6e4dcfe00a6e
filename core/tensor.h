// Tensor: a shape, a dtype and a device over shared storage. Tensors are always contiguous
// (row-major strides); views (reshape, row slices, arena slots) share the storage of their source.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace joule {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);  // "[128, 784]"
int64_t shape_numel(const Shape& shape);

// A block of device memory. CPU blocks are 64-byte aligned; other devices hand in their own
// pointer and deleter (cuda/ does).
class Storage {
 public:
  Storage() = default;
  Storage(size_t bytes, Device device);  // allocates on the CPU; other devices throw
  Storage(void* data, size_t bytes, Device device, std::function<void(void*)> deleter);

  void* data() const { return data_.get(); }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool defined() const { return data_ != nullptr; }

 private:
  std::shared_ptr<void> data_;
  size_t bytes_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(Storage storage, size_t offset_bytes, Shape shape, DType dtype);

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor from_floats(const std::vector<float>& values, const Shape& shape);  // CPU f32 copy

  bool defined() const { return storage_.defined(); }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_.device(); }
  Shape strides() const;  // in elements, row-major
  const Storage& storage() const { return storage_; }
  size_t offset_bytes() const { return offset_bytes_; }

  void* raw_data() const { return static_cast<char*>(storage_.data()) + offset_bytes_; }
  template <class T>
  T* data() const {
    JOULE_ASSERT(DTypeOf<T>::value == dtype_, "tensor holds ", dtype_name(dtype_), ", accessed as ",
                 dtype_name(DTypeOf<T>::value));
    return static_cast<T*>(raw_data());
  }

  Tensor reshape(const Shape& shape) const;           // one dim may be -1; shares storage
  Tensor rows(int64_t begin, int64_t end) const;      // slice of dim 0; shares storage
  std::string describe() const;                       // "f32[128, 784] on cpu"

  void zero_();                        // CPU only
  void copy_from(const Tensor& source);  // same shape and dtype, CPU only
  std::vector<float> to_floats() const;  // CPU f32 copy-out (tests, logging)

 private:
  Storage storage_;
  size_t offset_bytes_ = 0;
  Shape shape_;
  DType dtype_ = DType::f32;
};

// Makes `tensor` an allocation of this shape/dtype/device unless it already is one: lets callers
// keep activation and workspace buffers across steps. (Host buffers; ops use the Context's form.)
void ensure_tensor(Tensor& tensor, const Shape& shape, DType dtype, Device device);

struct Context;
// Tensors on the context's device: the CPU, or an accelerator through ctx.device_runtime.
Tensor empty_tensor(const Context& ctx, const Shape& shape, DType dtype = DType::f32);
Tensor zeros_tensor(const Context& ctx, const Shape& shape, DType dtype = DType::f32);
// ensure_tensor on the context's device: what ops allocate their outputs with.
void ensure_tensor(const Context& ctx, Tensor& tensor, const Shape& shape, DType dtype);
// dst = src across devices (host ↔ the context's device, or within one); same shape and dtype.
void copy_tensor(const Context& ctx, const Tensor& dst, const Tensor& src);
// `host` on the context's device, through `buffer` (reused across calls; resized when the shape
// changes); `host` itself when the context is on the CPU.
Tensor to_context_device(const Context& ctx, const Tensor& host, Tensor& buffer);
// Every byte of t = 0, on whichever device t lives (the context's, or the host).
void zero_tensor(const Context& ctx, const Tensor& t);

// Shape/dtype/device checks for op contracts; the message names the op and the argument.
// ndim < 0 accepts any rank.
void check_tensor(const Tensor& tensor, const char* op, const char* arg, int ndim, DType dtype);
// check_tensor plus "on the CPU" (else: "built without CUDA"): the entry check of CPU op code.
void check_cpu_tensor(const Tensor& tensor, const char* op, const char* arg, int ndim, DType dtype = DType::f32);
// "linear_forward: weight must be [OUT, IN] = [10, 784], got f32[10, 783] on cpu"
void check_shape(const Tensor& tensor, const char* op, const char* arg, const char* letters, const Shape& expected);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);

}  // namespace joule
