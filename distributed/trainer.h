// The training loop: batches from the loader, forward, fused softmax-cross-entropy, backward,
// optimizer step, periodic evaluation, metrics.jsonl and summary.json in the run directory, and
// progress output. Single process for now; data parallelism over a Communicator slots in here
// (gradient all-reduce between backward and the optimizer step).
#pragma once

#include <atomic>
#include <cstdio>
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

// Trains per `config` (resolved and validated) and returns the summary also written to summary.json.
// stop_reason: "epochs" | "max_steps" | "interrupted" | "diverged" (loss not finite).
pb::Summary train(const pb::Config& config, const Dataset& train_set, const Dataset& test_set, const TrainerIo& io);

}  // namespace joule
