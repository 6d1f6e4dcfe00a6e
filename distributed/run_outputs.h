// RunOutputs: what a run writes besides the rank logs, behind one object: metrics.jsonl,
// TensorBoard scalars, progress output and summary.json. Real on rank 0 (`lead`), silent on the
// others (every method is a no-op there), so the trainer calls it unconditionally. Estimated
// energies carry the "_estimate" suffix in TensorBoard tags.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/progress.h"
#include "core/proto/records.pb.h"
#include "core/proto/train_state.pb.h"
#include "energy/tensorboard_writer.h"

namespace joule {

struct RunOutputsOptions {
  std::string run_dir;           // exists
  bool lead = false;             // rank 0
  std::FILE* progress = stderr;  // null: no progress output
  bool interactive = false;      // live bar instead of plain lines
  bool measured = true;          // false: energies are estimates (labelled)
};

class RunOutputs {
 public:
  explicit RunOutputs(const RunOutputsOptions& options);

  void message(const std::string& text);  // one progress line
  // A train line of metrics.jsonl and its scalars (loss, lr, batch_size, precision_bits).
  void train_line(const pb::TrainRecord& record, double wall_s);
  // An eval line and its scalars; rank_energy_j: every rank's energy so far (sums to record.energy_j).
  void eval_line(const pb::EvalRecord& record, const std::vector<double>& rank_energy_j, double since_start_s,
                 double wall_s);
  // A controller decision line of metrics.jsonl.
  void decision_line(const pb::DecisionRecord& record);
  // The restart line of metrics.jsonl (a resumed run, before its first record).
  void restart_line(const pb::RestartRecord& record);
  // The knob state after a change (batch_size, precision_bits, sm_clock_mhz/rank_R scalars).
  void knobs(int64_t step, const pb::Knobs& knobs, double wall_s);
  void progress(const ProgressState& state, double now_s);
  void progress_line(const ProgressState& state);
  void summary(const pb::Summary& summary);  // summary.json, atomically

 private:
  RunOutputsOptions options_;
  std::string label_;  // "" or "_estimate"
  LineWriter metrics_;
  std::unique_ptr<energy::TensorBoardWriter> board_;
  ProgressPrinter printer_;
};

}  // namespace joule
