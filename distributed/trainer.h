// The data-parallel training loop: each rank trains on its shard of every global batch (DataFeed),
// gradients are summed over ranks between backward and the optimizer step (StepRunner), one
// agreement all-reduce per step gives every rank the same decisions (StepAgreement), evaluation is
// split over ranks (Evaluator), rank 0 writes metrics.jsonl, TensorBoard and summary.json
// (RunOutputs) and every rank its window log (energy::WindowLog). The knobs (pb::Knobs: batch,
// micro-batches, precision, SM clock) change at step boundaries, identically on every rank
// (energy.schedule now; the energy controller later). With one rank it is the single-process loop.
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/proto/config.pb.h"
#include "core/proto/records.pb.h"
#include "core/proto/train_state.pb.h"
#include "distributed/communicator.h"
#include "energy/clock_knob.h"
#include "energy/meter.h"
#include "ops/parameters.h"

namespace joule {

// What main() reads from the environment, passed in.
struct LoadedCheckpoint;

struct TrainerSetup {
  std::string fault_plan;  // JOULE_FAULT's value ("" = none; bad text fails the constructor, exit 2)
};

struct TrainerIo {
  std::string run_dir;                                // exists (rank 0 created it) and is empty
  std::FILE* progress = stderr;                       // progress lines (rank 0)
  bool interactive = false;                           // live bar instead of plain lines
  const std::atomic<bool>* stop_requested = nullptr;  // set by SIGINT/SIGTERM handlers
  // This rank's meter (not owned; outlives run()). Its read() is called at the same points on
  // every rank (start, agreed window closes, evaluations, end). Null: the CPU meter the config's
  // energy section describes (RAPL, else the labelled estimate).
  energy::Meter* meter = nullptr;
  std::vector<std::string> meter_warnings;  // printed once at the start (rank 0's)
  std::vector<std::string> meter_notes;     // how energy is attributed, printed once (rank 0's)
  // This rank's SM-clock knob (not owned; null or unavailable: the knob only records its value).
  energy::ClockKnob* clock = nullptr;
  // Tests: called after every step with the dataset indices this rank trained on in it.
  std::function<void(int64_t step, const std::vector<int64_t>& sample_ids)> on_batch;
};

// Construction builds the model, optimizer and schedule, broadcasts rank 0's parameters and checks
// everything that depends on the data or the ranks (so invalid input fails before a run directory
// exists); run() trains and returns the summary rank 0 also writes to summary.json.
// stop_reason: a pb::StopReason name ("max_epochs", "max_steps", "target_reached", ...).
class Trainer {
 public:
  // Collective: every rank constructs its Trainer with the same config (checked by hash).
  Trainer(const pb::Config& config, const Dataset& train_set, const Dataset& test_set, Communicator& comm,
          const TrainerSetup& setup = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // joule-train --resume, before run() (no collective): the checkpoint's parameters, optimizer
  // state, TrainState, knobs and counters replace the fresh ones, and run() continues the run
  // directory's logs. Invalid input (exit 2) naming the field when the checkpoint's model config or
  // optimizer differ from this run's, or its batch does not divide over this job's ranks.
  void restore(const LoadedCheckpoint& checkpoint);
  // --resume without a complete checkpoint: run() starts over at step 0 in the existing run
  // directory, after a restart record.
  void resume_from_start();
  // Differences of `config` from the checkpoint's config outside the model section ("" = none), for a
  // note: a resumed run repeats an uninterrupted one only with the same settings.
  static std::string config_changes(const LoadedCheckpoint& checkpoint, const pb::Config& config);

  pb::Summary run(const TrainerIo& io);
  // The checks of the config against the data and the rank count that need no collective and no
  // model (joule-train --check runs them too): batch sizes, micro-batches, the knob schedule,
  // image geometry.
  static void check_inputs(const pb::Config& config, const Dataset& train_set, const Dataset& test_set, int world_size);
  int64_t total_steps() const { return total_steps_; }  // at the initial batch, without schedule changes
  const ParameterArena& parameters() const;             // the model's parameters (after run(): the trained ones)
  const pb::TrainState& state() const;                  // after run(): where training stopped
  const pb::Knobs& knobs() const;                       // the knobs in force

 private:
  struct State;
  class Run;
  std::unique_ptr<State> state_;
  int64_t total_steps_ = 0;
};

}  // namespace joule
