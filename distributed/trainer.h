// The data-parallel training loop: each rank trains on its shard of every global batch (the
// distributed sampler), gradients are summed over ranks between backward and the optimizer step,
// evaluation is split over ranks, and rank 0 writes metrics.jsonl and summary.json and prints
// progress. With one rank (LocalCommunicator or an MPI singleton) it is the single-process loop.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "core/dataset.h"
#include "core/proto/config.pb.h"
#include "core/proto/records.pb.h"
#include "distributed/communicator.h"
#include "ops/parameters.h"

namespace joule {

struct TrainerIo {
  std::string run_dir;                          // exists (rank 0 created it) and is empty
  std::FILE* progress = stderr;                 // progress lines
  bool interactive = false;                     // live bar instead of plain lines
  const std::atomic<bool>* stop_requested = nullptr;  // set by SIGINT/SIGTERM handlers
};

// Construction builds the model, optimizer and schedule, broadcasts rank 0's parameters and checks
// everything that depends on the data or the ranks (so invalid input fails before a run directory
// exists); run() trains and returns the summary rank 0 also writes to summary.json. stop_reason: "epochs" | "max_steps" | "interrupted" | "diverged".
class Trainer {
 public:
  // Collective: every rank constructs its Trainer with the same config (checked by hash).
  Trainer(const pb::Config& config, const Dataset& train_set, const Dataset& test_set, Communicator& comm);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  pb::Summary run(const TrainerIo& io);
  // The checks of the config against the data and the rank count that need no collective and no
  // model (joule-train --check runs them too): batch sizes, micro-batches, image geometry.
  static void check_inputs(const pb::Config& config, const Dataset& train_set, const Dataset& test_set,
                           int world_size);
  int64_t total_steps() const { return total_steps_; }
  const ParameterArena& parameters() const;  // the model's parameters (after run(): the trained ones)

 private:
  struct State;
  std::unique_ptr<State> state_;
  int64_t total_steps_ = 0;
};
}  // namespace joule
