// Trainer::State: what a Trainer owns across construction and run() — the model, optimizer,
// reducer and context, plus the two objects a checkpoint restores besides tensors (pb::TrainState,
// pb::Knobs). Private to distributed/trainer*.cpp.
#pragma once

#include <memory>
#include <vector>

#include "core/context.h"
#include "core/proto/checkpoint.pb.h"
#include "distributed/fault_injection.h"
#include "distributed/gradient_reducer.h"
#include "distributed/knob_control.h"
#include "distributed/select_cpu_math.h"
#include "distributed/trainer.h"
#include "ops/lr_scaling.h"
#include "ops/lr_schedule.h"
#include "ops/model.h"
#include "ops/optimizer.h"

namespace joule {

// A resumed run (joule-train --resume): where it continues from.
struct ResumeState {
  bool active = false;
  std::string checkpoint;  // its folder; "" = none was complete: start over at step 0
  pb::RunCounters counters;
  pb::RankCheckpoint rank;            // this rank's accounting at the checkpoint
  std::vector<double> rank_energy_j;  // every rank's of the checkpoint (index = its rank then)
  std::string controller;            // its controller.pb (a pb::ControlJournal); "" = none
};

struct Trainer::State {
  pb::Config config;
  Communicator& comm;
  const Dataset& train_set;
  const Dataset& test_set;
  Context ctx;
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  LrSchedule schedule;  // in steps of the reference batch train.batch_size
  LrScaling lr_scaling = LrScaling::none;
  GradientNoiseEstimate noise;
  std::unique_ptr<GradientReducer> reducer;
  FaultPlan fault_plan;  // JOULE_FAULT (tests of failure handling); empty normally
  CpuMathSelection cpu_math;
  KnobBounds bounds;
  std::vector<pb::Knobs> scheduled;  // energy.schedule resolved, entry by entry
  pb::Knobs knobs;
  pb::TrainState train;
  std::string bf16_unavailable;       // why this CPU or build cannot compute in bf16; "" = it can
  std::vector<std::string> warnings;  // found while constructing, printed when the run starts
  ResumeState resume;
};

}  // namespace joule
