#include "ops/parameters.h"

namespace joule {

int ParameterArena::add(const std::string& name, const Shape& shape) {
  JOULE_ASSERT(!allocated(), "add('", name, "') after allocate()");
  JOULE_ASSERT(find(name) < 0, "parameter '", name, "' declared twice");
  constexpr int64_t alignment = 16;
  slots_.push_back({name, shape, total_});
  total_ += (shape_numel(shape) + alignment - 1) / alignment * alignment;
  return count() - 1;
}

void ParameterArena::allocate(Device device) {
  JOULE_ASSERT(!allocated(), "allocate() twice");
  values_ = Tensor::zeros({total_}, DType::f32, device);
  grads_ = Tensor::zeros({total_}, DType::f32, device);
}

void ParameterArena::allocate(const Context& ctx) {
  JOULE_ASSERT(!allocated(), "allocate() twice");
  values_ = zeros_tensor(ctx, {total_});
  grads_ = zeros_tensor(ctx, {total_});
}

const std::string& ParameterArena::name(int id) const { return slots_.at(static_cast<size_t>(id)).name; }

int64_t ParameterArena::offset(int id) const { return slots_.at(static_cast<size_t>(id)).offset; }

Tensor ParameterArena::value(int id) const {
  JOULE_ASSERT(allocated(), "value() before allocate()");
  const Slot& s = slots_.at(static_cast<size_t>(id));
  return Tensor(values_.storage(), static_cast<size_t>(s.offset) * 4, s.shape, DType::f32);
}

Tensor ParameterArena::grad(int id) const {
  JOULE_ASSERT(allocated(), "grad() before allocate()");
  const Slot& s = slots_.at(static_cast<size_t>(id));
  return Tensor(grads_.storage(), static_cast<size_t>(s.offset) * 4, s.shape, DType::f32);
}

int ParameterArena::find(const std::string& name) const {
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].name == name) return static_cast<int>(i);
  return -1;
}

int64_t ParameterArena::parameter_elements() const {
  int64_t n = 0;
  for (const Slot& s : slots_) n += shape_numel(s.shape);
  return n;
}

void ParameterArena::zero_grads() { grads_.zero_(); }
void ParameterArena::zero_grads(const Context& ctx) { zero_tensor(ctx, grads_); }

}  // namespace joule
