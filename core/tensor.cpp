#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace joule {

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  JOULE_CHECK(device.is_cpu(), "cannot allocate on ", device.str(), " from core: built without CUDA");
  constexpr size_t alignment = 64;
  size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (p == nullptr) throw OutOfMemory(bytes);
  data_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

Storage::Storage(void* data, size_t bytes, Device device, std::function<void(void*)> deleter)
    : data_(data, std::move(deleter)), bytes_(bytes), device_(device) {}

Tensor::Tensor(Storage storage, size_t offset_bytes, Shape shape, DType dtype)
    : storage_(std::move(storage)), offset_bytes_(offset_bytes), shape_(std::move(shape)), dtype_(dtype) {
  for (int64_t d : shape_) JOULE_ASSERT(d >= 0, "negative dimension in ", shape_str(shape_));
  JOULE_ASSERT(offset_bytes_ + nbytes() <= storage_.bytes(), "view ", shape_str(shape_), " at byte ",
               offset_bytes_, " exceeds storage of ", storage_.bytes(), " bytes");
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) JOULE_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  Storage storage(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  return Tensor(std::move(storage), 0, shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, const Shape& shape) {
  JOULE_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_floats: ", values.size(),
              " values for shape ", shape_str(shape));
  Tensor t = empty(shape);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

int64_t Tensor::size(int dim) const {
  int d = dim < 0 ? dim + ndim() : dim;
  JOULE_ASSERT(d >= 0 && d < ndim(), "dim ", dim, " out of range for ", shape_str(shape_));
  return shape_[static_cast<size_t>(d)];
}

Shape Tensor::strides() const {
  Shape s(shape_.size(), 1);
  for (int i = ndim() - 2; i >= 0; --i) s[i] = s[i + 1] * shape_[i + 1];
  return s;
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      JOULE_CHECK(infer < 0, "reshape ", shape_str(shape_), " to ", shape_str(shape), ": more than one -1");
      infer = static_cast<int>(i);
    } else {
      JOULE_CHECK(resolved[i] >= 0, "reshape ", shape_str(shape_), " to ", shape_str(shape), ": negative dimension");
      known *= resolved[i];
    }
  }
  if (infer >= 0) {
    JOULE_CHECK(known > 0 && numel() % known == 0, "reshape ", shape_str(shape_), " to ", shape_str(shape));
    resolved[infer] = numel() / known;
  }
  JOULE_CHECK(shape_numel(resolved) == numel(), "reshape ", shape_str(shape_), " (", numel(), " elements) to ",
              shape_str(shape));
  return Tensor(storage_, offset_bytes_, resolved, dtype_);
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  JOULE_ASSERT(ndim() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "rows(", begin, ", ", end,
               ") of ", shape_str(shape_));
  Shape s = shape_;
  s[0] = end - begin;
  size_t row_bytes = static_cast<size_t>(shape_numel(shape_) / std::max<int64_t>(shape_[0], 1)) * dtype_size(dtype_);
  return Tensor(storage_, offset_bytes_ + static_cast<size_t>(begin) * row_bytes, s, dtype_);
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " on " + device().str();
}

void Tensor::zero_() {
  JOULE_ASSERT(device().is_cpu(), "zero_ on ", device().str());
  std::memset(raw_data(), 0, nbytes());
}

void Tensor::copy_from(const Tensor& source) {
  JOULE_ASSERT(device().is_cpu() && source.device().is_cpu(), "copy_from off the CPU");
  JOULE_ASSERT(source.shape() == shape_ && source.dtype() == dtype_, "copy_from ", source.describe(), " into ",
               describe());
  std::memcpy(raw_data(), source.raw_data(), nbytes());
}

std::vector<float> Tensor::to_floats() const {
  JOULE_ASSERT(device().is_cpu(), "to_floats on ", device().str());
  const float* p = data<float>();
  return std::vector<float>(p, p + numel());
}

void ensure_tensor(Tensor& tensor, const Shape& shape, DType dtype, Device device) {
  if (tensor.defined() && tensor.shape() == shape && tensor.dtype() == dtype && tensor.device() == device) return;
  tensor = Tensor::empty(shape, dtype, device);
}

void check_tensor(const Tensor& tensor, const char* op, const char* arg, int ndim, DType dtype) {
  JOULE_CHECK(tensor.defined(), op, ": ", arg, " is undefined");
  JOULE_CHECK(ndim < 0 || tensor.ndim() == ndim, op, ": ", arg, " must have ", ndim, " dims, got ", tensor.describe());
  JOULE_CHECK(tensor.dtype() == dtype, op, ": ", arg, " must be ", dtype_name(dtype), ", got ", tensor.describe(),
              " (other dtypes are not implemented on this backend)");
}

void check_cpu_tensor(const Tensor& tensor, const char* op, const char* arg, int ndim, DType dtype) {
  check_tensor(tensor, op, arg, ndim, dtype);
  JOULE_CHECK(tensor.device().is_cpu(), op, ": built without CUDA (tensor on ", tensor.device().str(), ") for argument ", arg);
}

void check_shape(const Tensor& tensor, const char* op, const char* arg, const char* letters, const Shape& expected) {
  JOULE_CHECK(tensor.shape() == expected, op, ": ", arg, " must be ", letters, " = ", shape_str(expected), ", got ",
              tensor.describe());
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  JOULE_CHECK(a.device() == b.device(), op, ": tensors on ", a.device().str(), " and ", b.device().str());
}

}  // namespace joule
