// ParameterArena: all parameters of a model in one contiguous f32 buffer and all their gradients in
// a second one of identical layout, so the gradient all-reduce can work on buckets of one flat
// array and optimizers can run fused over everything. Two phases: declare every parameter with
// add(), then allocate() once; the views returned afterwards stay valid for the arena's lifetime.
#pragma once

#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace joule {

// How a backward function treats a parameter-gradient buffer it writes.
enum class GradMode {
  overwrite,   // grad = contribution
  accumulate,  // grad += contribution (gradient accumulation over micro-batches)
};

class ParameterArena {
 public:
  // Declares a parameter; returns its id. Offsets are padded to 16 elements (64 bytes).
  int add(const std::string& name, const Shape& shape);
  void allocate(Device device);  // after the last add(); values and grads start zeroed (CPU only)
  void allocate(const Context& ctx);  // the same on the context's device

  bool allocated() const { return values_.defined(); }
  int count() const { return static_cast<int>(slots_.size()); }
  const std::string& name(int id) const;
  Tensor value(int id) const;  // view into values()
  Tensor grad(int id) const;   // view into grads()
  int64_t offset(int id) const;  // element offset into the flat buffers
  int find(const std::string& name) const;  // -1 when absent

  const Tensor& values() const { return values_; }  // f32 [total_elements()]
  const Tensor& grads() const { return grads_; }
  int64_t total_elements() const { return total_; }
  int64_t parameter_elements() const;  // without padding
  void zero_grads();                        // CPU arenas
  void zero_grads(const Context& ctx);      // on the arena's device

 private:
  struct Slot {
    std::string name;
    Shape shape;
    int64_t offset;
  };
  std::vector<Slot> slots_;
  int64_t total_ = 0;
  Tensor values_;
  Tensor grads_;
};

}  // namespace joule
