#include "distributed/step_agreement.h"

#include <cmath>

namespace joule {

StepAgreement agree_step(Communicator& comm, const StepVotes& votes) {
  // a non-finite loss would poison the sum: it travels as a vote, the loss as 0
  const bool finite = !votes.non_finite && std::isfinite(votes.loss_sum) && std::isfinite(votes.local_grad_sq);
  double sums[6] = {finite ? votes.loss_sum : 0.0,      votes.stop ? 1.0 : 0.0,
                    votes.window_due ? 1.0 : 0.0,       finite ? 0.0 : 1.0,
                    finite ? votes.local_grad_sq : 0.0, votes.checkpoint_due ? 1.0 : 0.0};
  comm.all_reduce_sum(sums, 6);
  StepAgreement a;
  a.loss_sum = sums[0];
  a.stop = sums[1] > 0;
  a.window_due = sums[2] > 0;
  a.non_finite = sums[3] > 0;
  a.mean_local_grad_sq = sums[4] / comm.size();
  a.checkpoint_due = sums[5] > 0;
  return a;
}

}  // namespace joule
