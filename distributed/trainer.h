// The training loop: batches from the loader, forward, fused softmax-cross-entropy, backward,
// optimizer step, periodic evaluation, metrics.jsonl and summary.json in the run directory, and
// progress output. Single process for now; data parallelism over a Communicator slots in here
// (gradient all-reduce between backward and the optimizer step).
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "core/dataset.h"
#include "core/proto/config.pb.h"
#include "core/proto/records.pb.h"

namespace joule {

struct TrainerIo {
  std::string run_dir;                          // exists and is empty
  std::FILE* progress = stderr;                 // progress lines
  bool interactive = false;                     // live bar instead of plain lines
  const std::atomic<bool>* stop_requested = nullptr;  // set by SIGINT/SIGTERM handlers
};

// Construction builds the model, optimizer and schedule and checks everything that depends on the
// data (so invalid input fails before a run directory exists); run() trains and returns the summary
// it also writes to summary.json. stop_reason: "epochs" | "max_steps" | "interrupted" | "diverged".
class Trainer {
 public:
  Trainer(const pb::Config& config, const Dataset& train_set, const Dataset& test_set);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  pb::Summary run(const TrainerIo& io);
  int64_t total_steps() const { return total_steps_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int64_t total_steps_ = 0;
};
}  // namespace joule
