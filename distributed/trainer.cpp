#include "distributed/trainer.h"

#include <sched.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "core/batch_loader.h"
#include "core/build_info.h"
#include "core/context.h"
#include "core/file_util.h"
#include "core/gemm.h"
#include "core/json_record.h"
#include "core/progress.h"
#include "distributed/distributed_sampler.h"
#include "distributed/fault_injection.h"
#include "distributed/gradient_reducer.h"
#include "energy/phase_clock.h"
#include "distributed/rank_log.h"
#include "distributed/select_cpu_math.h"
#include "energy/estimate_meter.h"
#include "energy/rank_meter.h"
#include "energy/tensorboard_writer.h"
#include "ops/adamw.h"
#include "ops/lr_schedule.h"
#include "ops/model.h"
#include "ops/sgd.h"
#include "ops/softmax_cross_entropy.h"

namespace joule {
namespace {

// Optimizer over the model's flat parameter arena.
class Optimizer {
 public:
  Optimizer(const pb::OptimizerConfig& config, ParameterArena& arena) : config_(config), arena_(arena) {
    const int64_t n = arena.total_elements();
    state_a_ = Tensor::zeros({n});
    if (config.has_adamw()) state_b_ = Tensor::zeros({n});
  }
  float base_lr() const { return config_.has_adamw() ? config_.adamw().lr() : config_.sgd().lr(); }

  void step(Context& ctx, float lr, int64_t step_1based) {
    Tensor params = arena_.values();
    const Tensor& grads = arena_.grads();
    if (config_.has_adamw()) {
      const pb::AdamWConfig& c = config_.adamw();
      adamw_step(ctx, params, state_a_, state_b_, grads, {c.beta1(), c.beta2(), c.eps(), c.weight_decay()}, lr,
                 step_1based);
    } else {
      const pb::SgdConfig& c = config_.sgd();
      sgd_step(ctx, params, state_a_, grads, {c.momentum(), c.nesterov(), c.weight_decay()}, lr);
    }
  }

 private:
  pb::OptimizerConfig config_;
  ParameterArena& arena_;
  Tensor state_a_, state_b_;  // sgd: momentum; adamw: m, v
};

struct EvalResult {
  double accuracy = 0;
  double loss = 0;
  bool interrupted = false;
};

// Doubles exchanged between ranks as text keep every digit (std::to_string keeps 6 decimals).
std::string exact_text(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

// Each rank evaluates its share of the test set; sums are combined over ranks.
// An interrupt (*stop set on some rank) cuts the evaluation short on that rank; every rank learns
// it from the closing all-reduce and the result is marked interrupted (not a measurement).
EvalResult evaluate(Context& ctx, Model& model, const Dataset& test_set, const pb::Config& config, Communicator& comm,
                    const std::atomic<bool>* stop) {
  // no larger than this rank's share: a huge eval_batch_size must not allocate for samples that do not exist
  const int64_t share = (test_set.size() + comm.size() - 1) / comm.size();
  BatchLoader loader(test_set, std::min<int64_t>(config.train().eval_batch_size(), share), config.run().seed(), /*shuffle=*/false,
                     /*drop_last=*/false, config.data().normalize_mean(), config.data().normalize_std(),
                     config.data().prefetch());
  loader.start_epoch_with_order(rank_eval_order(test_set.size(), comm.size(), comm.rank()));
  Batch batch;
  Tensor probs;
  double sums[4] = {0, 0, 0, 0};  // loss, correct, seen, ranks interrupted
  while (loader.next(batch)) {
    if (stop != nullptr && stop->load()) {
      sums[3] = 1;
      break;
    }
    const Tensor& logits = model.forward(ctx, batch.images, /*training=*/false);
    sums[0] += softmax_cross_entropy_forward(ctx, probs, logits, batch.labels);
    sums[1] += static_cast<double>(count_correct(logits, batch.labels));
    sums[2] += static_cast<double>(batch.labels.numel());
  }
  comm.all_reduce_sum(sums, 4);
  if (sums[3] > 0) return {0, 0, true};
  JOULE_ASSERT(sums[2] > 0, "empty test set");
  return {sums[1] / sums[2], sums[0] / sums[2], false};
}

// A stable digest of the resolved config, to check that every rank runs the same one.
std::string config_digest(const pb::Config& config) {
  return std::to_string(std::hash<std::string>{}(config.SerializeAsString()));
}

// One optimizer step on this rank's shard of the global batch, in micro-batches; returns this
// rank's loss sum. Gradients are reduced over ranks by `reducer` (overlapped with the backward of
// the last micro-batch).
double train_step(Context& ctx, Model& model, GradientReducer& reducer, const Batch& batch, int micro_batches,
                  int64_t global_batch, bool overlap, Tensor& probs, Tensor& dlogits, energy::PhaseClock& clock) {
  const int64_t rows = batch.labels.numel() / micro_batches;
  const uint64_t step = ctx.step;
  double loss_sum = 0;
  reducer.begin_step();
  for (int m = 0; m < micro_batches; ++m) {
    ctx.step = step * 256 + static_cast<uint64_t>(m);  // distinct dropout masks per micro-batch
    const Tensor images = batch.images.rows(m * rows, (m + 1) * rows);
    const Tensor labels = batch.labels.rows(m * rows, (m + 1) * rows);
    clock.enter(energy::Phase::forward, energy::monotonic_seconds());
    const Tensor& logits = model.forward(ctx, images, /*training=*/true);
    loss_sum += softmax_cross_entropy_forward(ctx, probs, logits, labels);
    clock.enter(energy::Phase::backward, energy::monotonic_seconds());
    // 1/B (the global batch): summed over micro-batches and ranks this is the global mean gradient
    softmax_cross_entropy_backward(ctx, dlogits, probs, labels, 1.0f / static_cast<float>(global_batch));
    const bool last = m + 1 == micro_batches;
    Model::GradReadyFn on_ready;
    if (last && overlap) on_ready = [&reducer](int id) { reducer.on_grad_ready(id); };
    model.backward(ctx, dlogits, m == 0 ? GradMode::overwrite : GradMode::accumulate, on_ready);
  }
  ctx.step = step;
  clock.enter(energy::Phase::comm_wait, energy::monotonic_seconds());
  reducer.finish(1.0f);
  return loss_sum;
}

}  // namespace

struct Trainer::State {
  pb::Config config;
  Communicator& comm;
  const Dataset& train_set;
  const Dataset& test_set;
  Context ctx;
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  LrSchedule schedule;
  std::unique_ptr<GradientReducer> reducer;
  FaultPlan fault_plan;  // JOULE_FAULT (tests of failure handling); empty normally
  CpuMathSelection cpu_math;
};

void Trainer::check_inputs(const pb::Config& config, const Dataset& train_set, const Dataset& test_set,
                           int world_size) {
  const pb::TrainConfig& tc = config.train();
  JOULE_CHECK(tc.batch_size() <= train_set.size(), "train.batch_size = ", tc.batch_size(), ": expected at most the ",
              train_set.size(), " training samples");
  JOULE_CHECK(tc.batch_size() % world_size == 0, "train.batch_size = ", tc.batch_size(),
              " (the global batch): expected a multiple of the ", world_size, " ranks");
  const int64_t local = tc.batch_size() / world_size;
  JOULE_CHECK(local % tc.micro_batches() == 0, "train.micro_batches = ", tc.micro_batches(), ": expected a divisor of ",
              local, " (the global batch ", tc.batch_size(), " over ", world_size, " ranks)");
  JOULE_CHECK(test_set.height == train_set.height && test_set.width == train_set.width, "data.test_images = \"",
              config.data().test_images(), "\": its images are ", test_set.height, "x", test_set.width,
              ", expected the ", train_set.height, "x", train_set.width, " of data.train_images = \"",
              config.data().train_images(), "\"");
  JOULE_CHECK(test_set.size() >= world_size, "data.test_images = \"", config.data().test_images(), "\": ",
              test_set.size(), " test samples for ", world_size, " ranks: expected at least one per rank");
}

Trainer::Trainer(const pb::Config& config, const Dataset& train_set, const Dataset& test_set, Communicator& comm) {
  comm.set_stall_timeout(config.distributed().stall_timeout_s());
  const pb::TrainConfig& tc = config.train();
  check_inputs(config, train_set, test_set, comm.size());
  const std::vector<std::string> digests = comm.all_gather(config_digest(config));
  std::string differing;
  for (size_t r = 1; r < digests.size(); ++r)
    if (digests[r] != digests[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
  JOULE_CHECK(differing.empty(), "ranks ", differing, " run a different config than rank 0 (same file and --set on every rank?)");
  const int64_t local = tc.batch_size() / comm.size();
  // run.threads 0: this node's hardware threads shared among the ranks on it, and no more than the
  // cores this process may run on (mpirun binds each rank to one core unless --bind-to none)
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t allowed;
  const int bound = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : hardware;
  const int threads = config.run().threads() > 0 ? config.run().threads()
                                                 : std::max(1, std::min(bound, hardware / comm.local_size()));
  Context ctx = make_cpu_context(threads, config.run().seed());
  ctx.rank = static_cast<uint32_t>(comm.rank());
  InputShape shape{1, train_set.height, train_set.width, config.data().num_classes()};
  // The model, one training step's activations (the CPU math search runs a step) and one evaluation
  // batch are allocated here, before the run directory exists: too large a model or batch is a
  // config error, not a crash after the directory was written.
  std::unique_ptr<Model> model;
  CpuMathSelection cpu_math;
  try {
    model = make_model(config.model(), shape, ctx);
    cpu_math = select_cpu_math(config.run(), ctx, *model, local / tc.micro_batches(), shape, comm);
    const int64_t eval_rows = std::min<int64_t>(tc.eval_batch_size(), (test_set.size() + comm.size() - 1) / comm.size());
    model->forward(ctx, Tensor::zeros({eval_rows, shape.channels, shape.height, shape.width}), /*training=*/false);
  } catch (const std::bad_alloc& e) {
    JOULE_FAIL_INPUT("model: the ", config.model().has_cnn() ? "cnn" : "mlp", " with train.batch_size = ",
                     tc.batch_size(), " and train.eval_batch_size = ", tc.eval_batch_size(),
                     " needs more memory than this machine can give (", e.what(), " for ",
                     model ? "its activations" : "its parameters", "): make the model or the batches smaller");
  }
  std::string precision_warning;  // the starting compute precision (after the cpu math search, which times f32)
  parse_precision(tc.precision(), &ctx.precision);  // validated by load_config
  ctx.precision = resolve_precision(ctx.precision, &precision_warning);
  if (!precision_warning.empty() && comm.rank() == 0) std::fprintf(stderr, "warning: %s\n", precision_warning.c_str());
  // every rank initializes identically from the seed; the broadcast makes rank 0's copy the truth
  const Tensor& values = model->parameters().values();
  comm.broadcast(values.raw_data(), static_cast<int64_t>(values.nbytes()), 0);
  auto optimizer = std::make_unique<Optimizer>(tc.optimizer(), model->parameters());

  total_steps_ = train_set.size() / tc.batch_size() * tc.epochs();
  if (tc.max_steps() > 0) total_steps_ = std::min<int64_t>(total_steps_, tc.max_steps());
  LrSchedule schedule;
  schedule.kind = tc.schedule().kind() == pb::warmup_cosine ? ScheduleKind::warmup_cosine : ScheduleKind::constant;
  schedule.base_lr = optimizer->base_lr();
  schedule.warmup_steps = std::min<int64_t>(tc.schedule().warmup_steps(), total_steps_);
  schedule.total_steps = total_steps_;
  schedule.min_lr_ratio = tc.schedule().min_lr_ratio();
  const pb::DistributedConfig& dc = config.distributed();
  auto reducer = std::make_unique<GradientReducer>(model->parameters(), comm,
                                                   ReducerOptions{dc.bucket_mb(), dc.first_bucket_mb(), dc.overlap()});
  const FaultPlan fault_plan = parse_fault_plan(std::getenv("JOULE_FAULT"));  // bad text: exit 2, nothing written
  state_.reset(new State{config, comm, train_set, test_set, ctx, std::move(model), std::move(optimizer), schedule,
                         std::move(reducer), fault_plan, cpu_math});
}

Trainer::~Trainer() = default;

const ParameterArena& Trainer::parameters() const { return state_->model->parameters(); }

pb::Summary Trainer::run(const TrainerIo& io) {
  const pb::Config& config = state_->config;
  const pb::TrainConfig& tc = config.train();
  const Dataset& train_set = state_->train_set;
  const Dataset& test_set = state_->test_set;
  Context& ctx = state_->ctx;
  Model* model = state_->model.get();
  Optimizer& optimizer = *state_->optimizer;
  const LrSchedule& schedule = state_->schedule;
  Communicator& comm = state_->comm;
  const bool lead = comm.rank() == 0;  // rank 0 writes the run directory's shared files and prints
  const int64_t batch_size = tc.batch_size();
  const ShardSpec shard{train_set.size(), batch_size, comm.size(), comm.rank()};
  GradientReducer& reducer = *state_->reducer;
  const int64_t total_steps = total_steps_;

  LineWriter metrics;
  if (lead) metrics.open((std::filesystem::path(io.run_dir) / "metrics.jsonl").string());
  // CPU ranks: RAPL where readable, else the labelled estimate. GPU ranks (the CUDA backend) pass
  // their device's PCI bus id here and add NVML.
  energy::RankMeter rank_meter = energy::make_rank_meter(
      {"", config.energy().estimate_watts_per_core(), config.energy().estimate_static_watts()});
  const std::unique_ptr<energy::Meter> meter = std::move(rank_meter.meter);
  const std::string label = meter->measured() ? "" : "_estimate";  // estimates are labelled in TensorBoard too
  std::unique_ptr<energy::TensorBoardWriter> board;
  if (lead) board = std::make_unique<energy::TensorBoardWriter>(io.run_dir, "joule");
  ProgressPrinter progress(lead ? io.progress : nullptr, io.interactive);
  progress.message(model->describe() + ", " + std::to_string(train_set.size()) + " training samples, batch " +
                   std::to_string(batch_size) + " over " + std::to_string(comm.size()) + " rank(s), " +
                   std::to_string(total_steps) + " steps, " + std::to_string(ctx.num_threads) + " threads per rank");
  progress.message("cpu math: " + state_->cpu_math.kernel + ", " + state_->cpu_math.reason);
  for (const std::string& warning : rank_meter.warnings)
    progress.message("warning (rank " + std::to_string(comm.rank()) + "): " + warning);

  BatchLoader loader(train_set, local_batch(shard), config.run().seed(), /*shuffle=*/false, /*drop_last=*/true,
                     config.data().normalize_mean(), config.data().normalize_std(), config.data().prefetch());
  Tensor probs, dlogits;
  const double start_s = energy::monotonic_seconds();
  RankLog rank_log(io.run_dir, comm, *meter, config.energy().window_s(), precision_name(ctx.precision));
  energy::PhaseClock& clock = rank_log.clock();
  double eval_s = 0;  // wall time spent evaluating, excluded from training throughput
  int64_t step = 0;
  double best_accuracy = 0, last_accuracy = -1;
  int64_t last_eval_step = -1;
  std::string stop_reason = "epochs";
  ProgressState state;
  state.total_steps = total_steps;
  state.epochs = tc.epochs();

  auto run_eval = [&](int64_t epoch) {
    const double t0 = energy::monotonic_seconds();
    clock.enter(energy::Phase::eval, t0);
    EvalResult r = evaluate(ctx, *model, test_set, config, comm, io.stop_requested);
    eval_s += energy::monotonic_seconds() - t0;
    if (r.interrupted) {  // cut short by an interrupt: no accuracy to record
      stop_reason = "interrupted";
      return;
    }
    last_accuracy = r.accuracy;
    best_accuracy = std::max(best_accuracy, r.accuracy);
    last_eval_step = step;
    pb::EvalRecord record;
    record.set_kind("eval");
    record.set_step(static_cast<uint32_t>(step));
    record.set_epoch(static_cast<uint32_t>(epoch));
    record.set_samples(static_cast<double>(step * batch_size));
    // every rank's energy so far, gathered (one all-gather) for the total and per-rank scalars
    const std::vector<std::string> gathered = comm.all_gather(exact_text(rank_log.energy_j()));
    double energy_j = 0;
    for (const std::string& e : gathered) energy_j += std::stod(e);
    record.set_energy_j(energy_j);
    record.set_accuracy(r.accuracy);
    record.set_eval_loss(r.loss);
    record.set_seconds(energy::monotonic_seconds() - start_s);
    if (lead) {
      metrics.write_line(to_json_line(record));
      const double wall = unix_seconds(), since_start = energy::monotonic_seconds() - start_s;
      board->scalar("accuracy", r.accuracy, step, wall);
      board->scalar("eval_loss", r.loss, step, wall);
      board->scalar("energy_j" + label, energy_j, step, wall);
      if (step > 0) board->scalar("j_per_sample" + label, energy_j / static_cast<double>(step * batch_size), step, wall);
      for (size_t rank = 0; rank < gathered.size(); ++rank) {
        const double rank_j = std::stod(gathered[rank]);
        board->scalar("energy_j" + label + "/rank_" + std::to_string(rank), rank_j, step, wall);
        board->scalar("power_w" + label + "/rank_" + std::to_string(rank), rank_j / std::max(since_start, 1e-9), step,
                      wall);
      }
      board->flush();
    }
  };

  for (int64_t epoch = 0; epoch < tc.epochs() && stop_reason == "epochs"; ++epoch) {
    loader.start_epoch_with_order(rank_epoch_order(shard, config.run().seed(), epoch));
    Batch batch;
    double epoch_loss = 0;
    int64_t epoch_steps = 0;
    state.epoch = epoch;
    for (;;) {
      clock.enter(energy::Phase::data, energy::monotonic_seconds());
      if (!loader.next(batch)) break;
      ctx.step = static_cast<uint64_t>(step);
      inject_fault(state_->fault_plan, comm.rank(), step);
      const float lr = lr_at(schedule, step);
      const double local_loss = train_step(ctx, *model, reducer, batch, tc.micro_batches(), batch_size,
                                           config.distributed().overlap(), probs, dlogits, clock);
      // {loss sum, stop votes}: one small all-reduce gives every rank the global loss and the same
      // decision to stop (a signal may reach the ranks at different steps)
      const bool stop_here = io.stop_requested != nullptr && io.stop_requested->load();
      double step_sums[2] = {local_loss, stop_here ? 1.0 : 0.0};
      comm.all_reduce_sum(step_sums, 2);
      const double loss = step_sums[0] / static_cast<double>(batch_size);
      if (!std::isfinite(loss)) {
        progress.message("error: training diverged: loss is " + std::to_string(loss) + " at step " +
                         std::to_string(step + 1) + " (try a lower learning rate)");
        stop_reason = "diverged";
        break;
      }
      clock.enter(energy::Phase::optimizer, energy::monotonic_seconds());
      optimizer.step(ctx, lr, step + 1);
      ++step;
      epoch_loss += loss;
      ++epoch_steps;

      if (step % tc.log_every_steps() == 0 || step == total_steps) {
        pb::TrainRecord record;
        record.set_kind("train");
        record.set_step(static_cast<uint32_t>(step));
        record.set_epoch(static_cast<uint32_t>(epoch));
        record.set_samples(static_cast<double>(step * batch_size));
        record.set_loss(loss);
        record.set_lr(lr);
        record.set_batch_size(static_cast<uint32_t>(batch_size));
        record.set_precision(precision_name(ctx.precision));
        if (lead) {
          metrics.write_line(to_json_line(record));
          const double wall = unix_seconds();
          board->scalar("loss", loss, step, wall);
          board->scalar("lr", lr, step, wall);
          board->scalar("batch_size", static_cast<double>(batch_size), step, wall);
          board->scalar("precision_bits", precision_bits(ctx.precision), step, wall);
        }
      }
      if (tc.eval_every_steps() > 0 && step % tc.eval_every_steps() == 0) run_eval(epoch);

      const double now = energy::monotonic_seconds();
      rank_log.step_done(step, local_batch(shard), batch_size, /*force=*/false);
      state.step = step;
      state.loss = epoch_loss / static_cast<double>(epoch_steps);
      state.accuracy = last_accuracy;
      state.elapsed_s = now - start_s;
      state.samples_per_s = static_cast<double>(step * batch_size) / std::max(1e-9, now - start_s - eval_s);
      progress.update(state, now);
      if (step_sums[1] > 0 || stop_reason == "interrupted") {  // the vote, or an evaluation cut short
        stop_reason = "interrupted";
        break;
      }
      if (step >= total_steps) {
        if (tc.max_steps() > 0 && step == tc.max_steps()) stop_reason = "max_steps";
        break;
      }
    }
    if (stop_reason == "diverged") break;
    // interrupted: straight to the summary (mpirun kills ranks ~2 s after forwarding the signal)
    if (stop_reason != "interrupted" && last_eval_step != step) run_eval(epoch);
    state.accuracy = last_accuracy;
    progress.line(state);
  }

  // a signal that arrived after the last step's vote (during the closing evaluation) still counts,
  // on every rank alike
  double late_stop = io.stop_requested != nullptr && io.stop_requested->load() ? 1.0 : 0.0;
  comm.all_reduce_sum(&late_stop, 1);
  if (late_stop > 0 && stop_reason != "diverged") stop_reason = "interrupted";
  const double seconds = energy::monotonic_seconds() - start_s;
  rank_log.step_done(step, 0, batch_size, /*force=*/true);
  // the run total of each rank is the sum of its closed windows (they telescope)
  const std::vector<std::string> rank_energies = comm.all_gather(exact_text(rank_log.closed_energy_j()));
  pb::Summary summary;
  summary.set_world_size(static_cast<uint32_t>(comm.size()));
  summary.set_steps(static_cast<uint32_t>(step));
  summary.set_samples(static_cast<double>(step * batch_size));
  summary.set_seconds(seconds);
  double total_energy = 0;
  for (const std::string& e : rank_energies) {
    summary.add_energy_j_per_rank(std::stod(e));
    total_energy += summary.energy_j_per_rank(summary.energy_j_per_rank_size() - 1);
  }
  summary.set_energy_j(total_energy);
  summary.set_j_per_sample(step > 0 ? total_energy / summary.samples() : 0);
  summary.set_accuracy_per_kj(total_energy > 0 ? std::max(0.0, last_accuracy) / (total_energy / 1000) : 0);
  summary.set_final_accuracy(std::max(0.0, last_accuracy));
  summary.set_best_accuracy(best_accuracy);
  summary.set_stop_reason(stop_reason);
  for (const std::string& source : meter->sources()) summary.add_sources(source);
  summary.set_measured(meter->measured());
  summary.set_samples_per_s(summary.samples() / std::max(1e-9, seconds - eval_s));
  summary.set_model(model->kind());
  summary.set_joule_version(JOULE_VERSION);
  summary.set_cpu_math(state_->cpu_math.name);
  summary.set_cpu_math_kernel(state_->cpu_math.kernel);
  summary.set_cpu_math_reason(state_->cpu_math.reason);
  if (lead) write_file_atomic((std::filesystem::path(io.run_dir) / "summary.json").string(), to_json_pretty(summary));
  return summary;
}

}  // namespace joule
