// The per-step agreement: one small all-reduce after every step's gradient reduction, so that all
// ranks take the same decisions at the same step: the global loss, whether any rank asked to stop
// (a signal may reach ranks at different steps), whether any rank's accounting window is due (so
// window k closes at the same step everywhere), whether any rank saw a non-finite loss or
// gradient, whether a timed checkpoint is due, and the ranks' mean local gradient squared norm (the gradient noise
// scale's input).
#pragma once

#include "distributed/communicator.h"

namespace joule {

struct StepVotes {
  double loss_sum = 0;  // this rank's loss sum
  bool stop = false;
  bool window_due = false;
  bool non_finite = false;
  double local_grad_sq = 0;     // |g_r|² (0 when not measured)
  bool checkpoint_due = false;  // checkpoint.every_seconds passed since the last checkpoint
};

struct StepAgreement {
  double loss_sum = 0;                                        // over all ranks
  bool stop = false, window_due = false, non_finite = false;  // any rank
  double mean_local_grad_sq = 0;                              // over ranks
  bool checkpoint_due = false;                                // any rank
};

StepAgreement agree_step(Communicator& comm, const StepVotes& votes);  // collective

}  // namespace joule
