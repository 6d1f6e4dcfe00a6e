#include "ops/model.h"

#include <utility>

#include "core/rng.h"
#include "ops/cnn.h"
#include "ops/mlp.h"

namespace joule {

namespace {
// The parameter's view when the arena is on the CPU, else a host buffer of its shape; then
// finish_on_device copies that buffer into the device view.
Tensor host_view(const ParameterArena& arena, int id) {
  const Tensor value = arena.value(id);
  return value.device().is_cpu() ? value : Tensor::empty(value.shape());
}
void finish_on_device(const Context& ctx, const ParameterArena& arena, int id, const Tensor& host) {
  const Tensor value = arena.value(id);
  if (!value.device().is_cpu()) copy_tensor(ctx, value, host);
}
}  // namespace

void init_uniform(const Context& ctx, ParameterArena& arena, int id, float bound, uint64_t seed) {
  CounterRng rng(seed, 0, 0, RngStream::init);
  rng.skip_to(static_cast<uint64_t>(id) << 40);  // each parameter its own slice of the stream
  Tensor value = host_view(arena, id);
  float* p = value.data<float>();
  for (int64_t i = 0; i < value.numel(); ++i) p[i] = (2.0f * rng.uniform() - 1.0f) * bound;
  finish_on_device(ctx, arena, id, value);
}

void init_constant(const Context& ctx, ParameterArena& arena, int id, float value) {
  Tensor t = host_view(arena, id);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  finish_on_device(ctx, arena, id, t);
}

std::vector<GemmWorkload> record_model_gemms(Context& ctx, Model& model, int64_t batch, const InputShape& input) {
  auto recorder = std::make_shared<GemmRecorder>();
  std::shared_ptr<GemmBackend> saved = std::exchange(ctx.gemm, recorder);
  try {
    const Tensor images = Tensor::zeros({batch, input.channels, input.height, input.width});
    const Tensor& logits = model.forward(ctx, images, /*training=*/true);
    const Tensor dlogits = Tensor::zeros(logits.shape());
    model.backward(ctx, dlogits, GradMode::overwrite);
  } catch (...) {
    ctx.gemm = saved;
    throw;
  }
  ctx.gemm = saved;
  return recorder->workload();
}

std::unique_ptr<Model> make_model(const pb::ModelConfig& config, const InputShape& input, Context& ctx) {
  if (config.has_mlp()) return std::make_unique<Mlp>(config.mlp(), input, ctx);
  JOULE_CHECK(config.has_cnn(), "model: expected mlp { ... } or cnn { ... }");
  return std::make_unique<Cnn>(config.cnn(), input, ctx);
}

}  // namespace joule
