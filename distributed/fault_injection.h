// Fault injection for testing failure handling: the environment variable JOULE_FAULT makes one rank
// fail at the start of one training step, so tests can check that the whole job ends (non-zero
// status, the failing rank named) instead of hanging. Unset or empty: no fault, no cost.
//
// Format (RANK: the rank that fails; STEP: the number of steps completed before the fault, 0 =
// before the first step; SECONDS: a non-negative decimal):
//   throw:RANK:STEP            throws joule::Error (internal) "injected fault ..." on that rank
//   sleep:RANK:STEP:SECONDS    sleeps that long (a straggler, or a stall for the watchdog)
//   kill:RANK:STEP             raise(SIGKILL): the process dies at once, as if killed from outside
//   term:RANK:STEP[:WHERE]     raise(SIGTERM): as a scheduler's preemption notice (the step
//                              finishes, a checkpoint is written, exit status 3). WHERE: at the
//                              step's start (default), `eval` (as the evaluation after STEP steps
//                              starts), `checkpoint` (inside the checkpoint of step STEP, once the
//                              rank's own file is written) or `twice` (two signals at the step's
//                              start: the second ends the process at once)
//   stop:RANK:STEP             raise(SIGSTOP) inside the rank's next collective that moves data,
//                              right after every rank has passed its arrival gate: the rank has
//                              arrived, then freezes (as under a debugger's breakpoint); with
//                              distributed.overlap (the default) that is the step's agreement
//                              all-reduce. Only the data phase's deadline can notice it.
//   nonfinite:RANK:STEP[:COUNT]  that step's loss on that rank is NaN (as an overflow in bf16 would
//                              make it), and the next COUNT-1 steps' (default 1): each is skipped;
//                              in bf16 the run falls back to fp32; train.max_bad_steps in a row end it
// A fault acts in a run's first launch only: a resumed run (--resume) is the relaunch after it.
// e.g. `JOULE_FAULT=throw:1:3 mpirun -x JOULE_FAULT -np 2 build/bin/joule-train --config ...`
#pragma once

#include <cstdint>

namespace joule {

enum class FaultKind { none, throw_error, sleep, kill, term, stop, nonfinite };

// Where in a step a fault acts.
enum class FaultPoint { step_start, eval, checkpoint };

struct FaultPlan {
  FaultKind kind = FaultKind::none;
  FaultPoint point = FaultPoint::step_start;
  bool twice = false;  // term: two signals
  int rank = -1;
  int64_t step = -1;
  double seconds = 0;  // sleep only
  int64_t count = 1;   // nonfinite: this many steps from `step` on
};

// Parses JOULE_FAULT's value; null or "" → no fault. Bad text → joule::Error (invalid input) naming
// JOULE_FAULT and the expected format.
FaultPlan parse_fault_plan(const char* text);

// Call at the start of every training step (every rank, every step); acts only when rank and step
// match the plan. Prints a line to stderr before acting. A stop is only armed here: it happens in
// inject_armed_fault.
// Call also as every evaluation starts (point eval) and inside every checkpoint (point checkpoint).
void inject_fault(const FaultPlan& plan, int rank, int64_t step, FaultPoint point = FaultPoint::step_start);

// True when the plan makes this rank's loss at `step` non-finite (nonfinite:RANK:STEP).
bool fault_nonfinite(const FaultPlan& plan, int rank, int64_t step);

// Called by a communicator inside every collective that moves data, once every rank has arrived
// at it (`what`: the collective, for the message): performs a stop that inject_fault armed, once.
// The armed stop is the one piece of process-wide state here (the trainer hands the plan to
// inject_fault only); costs one relaxed atomic load when nothing is armed.
void inject_armed_fault(int rank, const char* what);

}  // namespace joule
