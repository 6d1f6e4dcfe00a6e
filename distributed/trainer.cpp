#include "distributed/trainer.h"

#include <sched.h>

#include <functional>
#include <thread>

#include "core/gemm.h"
#include "distributed/trainer_run.h"
#include "distributed/trainer_state.h"

namespace joule {
namespace {

// A stable digest of the resolved config, to check that every rank runs the same one.
std::string config_digest(const pb::Config& config) {
  return std::to_string(std::hash<std::string>{}(config.SerializeAsString()));
}

// run.threads 0: this node's hardware threads shared among the ranks on it, and no more than the
// cores this process may run on (mpirun binds each rank to one core unless --bind-to none)
int rank_threads(const pb::RunConfig& run, const Communicator& comm) {
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t allowed;
  const int bound = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : hardware;
  return run.threads() > 0 ? run.threads() : std::max(1, std::min(bound, hardware / comm.local_size()));
}

}  // namespace

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
  resolve_schedule(config, world_size, train_set.size());  // every scripted change is valid here
  JOULE_CHECK(test_set.height == train_set.height && test_set.width == train_set.width, "data.test_images = \"",
              config.data().test_images(), "\": its images are ", test_set.height, "x", test_set.width,
              ", expected the ", train_set.height, "x", train_set.width, " of data.train_images = \"",
              config.data().train_images(), "\"");
  JOULE_CHECK(test_set.size() >= world_size, "data.test_images = \"", config.data().test_images(),
              "\": ", test_set.size(), " test samples for ", world_size, " ranks: expected at least one per rank");
}

Trainer::Trainer(const pb::Config& config, const Dataset& train_set, const Dataset& test_set, Communicator& comm,
                 const TrainerSetup& setup) {
  comm.set_stall_timeout(config.distributed().stall_timeout_s());
  const pb::TrainConfig& tc = config.train();
  check_inputs(config, train_set, test_set, comm.size());
  const FaultPlan fault_plan = parse_fault_plan(setup.fault_plan.c_str());  // bad text: exit 2, nothing written
  const std::vector<std::string> digests = comm.all_gather(config_digest(config));
  std::string differing;
  for (size_t r = 1; r < digests.size(); ++r)
    if (digests[r] != digests[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
  JOULE_CHECK(differing.empty(), "ranks ", differing,
              " run a different config than rank 0 (same file and --set on every rank?)");
  Context ctx = make_cpu_context(rank_threads(config.run(), comm), config.run().seed());
  ctx.rank = static_cast<uint32_t>(comm.rank());
  const InputShape shape{1, train_set.height, train_set.width, config.data().num_classes()};
  // The model, one training step's activations at the largest batch the schedule uses (the CPU
  // math search runs a step) and one evaluation batch are allocated here, before the run directory
  // exists: too large a model or batch is a config error, not a crash after the directory was written.
  const std::vector<pb::Knobs> scheduled = resolve_schedule(config, comm.size(), train_set.size());
  int64_t largest_rows = tc.batch_size() / comm.size() / tc.micro_batches();
  for (const pb::Knobs& k : scheduled)
    largest_rows = std::max<int64_t>(largest_rows, k.global_batch() / comm.size() / k.micro_batches());
  // the controller's largest batch where a bound names it (else it is the training set: not tried here)
  const pb::ControllerConfig& controller = config.energy().controller();
  const int64_t controller_max =
      controller.batch_size().max() > 0 ? controller.batch_size().max() : config.energy().batch().max();
  if (controller.batch_size().mode() == pb::ADAPT && controller_max > 0)
    largest_rows = std::max<int64_t>(largest_rows, controller_max / comm.size() / tc.micro_batches());
  std::unique_ptr<Model> model;
  CpuMathSelection cpu_math;
  try {
    model = make_model(config.model(), shape, ctx);
    cpu_math =
        select_cpu_math(config.run(), ctx, *model, tc.batch_size() / comm.size() / tc.micro_batches(), shape, comm);
    model->forward(ctx, Tensor::zeros({largest_rows, shape.channels, shape.height, shape.width}), /*training=*/true);
    const int64_t eval_rows = Evaluator::eval_rows(config, test_set.size(), comm.size());
    model->forward(ctx, Tensor::zeros({eval_rows, shape.channels, shape.height, shape.width}), /*training=*/false);
  } catch (const std::bad_alloc& e) {
    JOULE_FAIL_INPUT("model: the ", config.model().has_cnn() ? "cnn" : "mlp",
                     " with train.batch_size = ", tc.batch_size(), " (largest micro-batch ", largest_rows,
                     " rows per rank) and train.eval_batch_size = ", tc.eval_batch_size(),
                     " needs more memory than this machine can give (", e.what(), " for ",
                     model ? "its activations" : "its parameters", "): make the model or the batches smaller");
  }
  // every rank initializes identically from the seed; the broadcast makes rank 0's copy the truth
  const Tensor& values = model->parameters().values();
  comm.broadcast(values.raw_data(), static_cast<int64_t>(values.nbytes()), 0);
  auto optimizer = std::make_unique<Optimizer>(ctx, tc.optimizer(), model->parameters());

  total_steps_ = train_set.size() / tc.batch_size() * tc.epochs();
  if (tc.max_steps() > 0) total_steps_ = std::min<int64_t>(total_steps_, tc.max_steps());
  LrSchedule schedule;
  schedule.kind = tc.schedule().kind() == pb::warmup_cosine         ? ScheduleKind::warmup_cosine
                  : tc.schedule().kind() == pb::warmup_stable_decay ? ScheduleKind::warmup_stable_decay
                                                                    : ScheduleKind::constant;
  schedule.base_lr = optimizer->base_lr();
  schedule.warmup_steps = std::min<int64_t>(tc.schedule().warmup_steps(), total_steps_);
  schedule.total_steps = total_steps_;
  schedule.min_lr_ratio = tc.schedule().min_lr_ratio();
  schedule.decay_fraction = tc.schedule().decay_fraction();
  const pb::DistributedConfig& dc = config.distributed();
  auto reducer = std::make_unique<GradientReducer>(model->parameters(), comm,
                                                   ReducerOptions{dc.bucket_mb(), dc.first_bucket_mb(), dc.overlap()});
  state_.reset(new State{config,
                         comm,
                         train_set,
                         test_set,
                         ctx,
                         std::move(model),
                         std::move(optimizer),
                         schedule,
                         parse_lr_scaling(tc.lr_scaling()),
                         GradientNoiseEstimate{},
                         std::move(reducer),
                         fault_plan,
                         cpu_math,
                         knob_bounds(config, comm.size(), train_set.size()),
                         scheduled,
                         initial_knobs(config, comm.size()),
                         pb::TrainState{},
                         std::string(),
                         {},
                         ResumeState{}});
  state_->train.set_last_accuracy(-1);
  state_->train.set_last_eval_step(-1);
  // the starting compute precision (after the cpu math search, which times f32); bf16 where this
  // CPU cannot: f32 with one warning
  state_->bf16_unavailable = bf16_unavailable_reason();
  if (state_->knobs.precision() == "bf16" && !state_->bf16_unavailable.empty()) {
    state_->knobs.set_precision("f32");
    state_->warnings.push_back("precision bf16 is not available, computing in f32: " + state_->bf16_unavailable);
  }
  parse_precision(state_->knobs.precision(), &state_->ctx.precision);
}

Trainer::~Trainer() = default;

const ParameterArena& Trainer::parameters() const { return state_->model->parameters(); }
const pb::TrainState& Trainer::state() const { return state_->train; }
const pb::Knobs& Trainer::knobs() const { return state_->knobs; }

// The loop, in collective order: every call below that communicates runs on every rank at the same
// step (the data feed and the step's gradient reduction, the agreement, evaluations, window closes).
pb::Summary Trainer::run(const TrainerIo& io) {
  Run run(*state_, io);
  const pb::TrainState& train = state_->train;
  Batch batch;
  run.run_pending_eval();  // resumed from an interrupted evaluation
  while (train.stop_reason() == pb::running) {
    run.apply_scheduled_knobs();   // a change due after this many steps (closes the window first)
    run.apply_control();           // the controller's change, decided at the last window close
    if (!run.next_batch(batch)) {  // the epoch is exhausted
      run.end_epoch();             // evaluation, progress line, next epoch or stop
      continue;
    }
    const StepStats stats = run.compute_step(batch);
    const StepAgreement agreed = run.agree(stats);
    if (!run.update(stats, agreed)) break;  // diverged in fp32
    run.log_step(agreed);
    run.evaluate_if_due();
    if (agreed.window_due) run.close_window("");
    run.show_progress();
    run.check_stop(agreed);                                      // the stop vote, an interrupted evaluation, max_steps
    if (run.checkpoint_due(agreed)) run.checkpoint("periodic");  // checkpoint.every_steps / every_seconds
  }
  return run.finish();
}

}  // namespace joule
