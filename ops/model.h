// Models: a Module-level view over the ops. A model owns its ParameterArena (one contiguous
// buffer of parameters, one of gradients) and the activations its backward needs; forward and
// backward are explicit calls. Images are f32 [N, C, H, W]; logits are f32 [N, classes].
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/context.h"
#include "core/cpu_math_select.h"
#include "core/proto/config.pb.h"
#include "ops/parameters.h"

namespace joule {

struct InputShape {
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  int64_t classes = 10;
};

class Model {
 public:
  virtual ~Model() = default;
  // Returns the logits; the reference stays valid until the next forward. `training` enables dropout.
  virtual const Tensor& forward(Context& ctx, const Tensor& images, bool training) = 0;
  // Called during backward as soon as a parameter's gradient is final for this call, with the
  // parameter's arena id; ids arrive in reverse layer order. Lets the gradient reducer start
  // communicating a bucket while backward goes on.
  using GradReadyFn = std::function<void(int id)>;
  // Parameter gradients of the last forward for upstream gradient dlogits, written per `mode`.
  virtual void backward(Context& ctx, const Tensor& dlogits, GradMode mode, const GradReadyFn& on_ready = {}) = 0;
  virtual std::string describe() const = 0;  // "mlp 784-1024-1024-10 relu (1863690 parameters)"
  virtual const char* kind() const = 0;      // "mlp" | "cnn"

  ParameterArena& parameters() { return arena_; }
  const ParameterArena& parameters() const { return arena_; }

 protected:
  ParameterArena arena_;
};

// Builds the configured model on ctx.device and initializes its parameters like PyTorch's defaults
// (weights and biases uniform in ±1/sqrt(fan_in), LayerNorm γ = 1, β = 0) from (seed, RngStream::init).
std::unique_ptr<Model> make_model(const pb::ModelConfig& config, const InputShape& input, Context& ctx);

// The f32 GEMMs one training step on `batch` rows runs (forward and backward on zeros, through
// Eigen; ctx.gemm is restored). Leaves the gradients overwritten, the parameters untouched.
std::vector<GemmWorkload> record_model_gemms(Context& ctx, Model& model, int64_t batch, const InputShape& input);

// Fills parameter `id` uniformly in [-bound, bound) from its own position of the init stream.
// Parameter initialisation, computed on the host (the same values on every device) and copied to the
// arena's device when it is not the CPU.
void init_uniform(const Context& ctx, ParameterArena& arena, int id, float bound, uint64_t seed);
void init_constant(const Context& ctx, ParameterArena& arena, int id, float value);

}  // namespace joule
