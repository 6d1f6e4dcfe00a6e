#include "distributed/run_outputs.h"

#include <algorithm>
#include <filesystem>

#include "core/dtype.h"
#include "core/json_record.h"

namespace joule {

namespace {

int bits_of(const std::string& name) {  // the knob's name as TensorBoard's precision_bits
  Precision precision = Precision::f32;
  parse_precision(name, &precision);
  return precision_bits(precision);
}

}  // namespace

RunOutputs::RunOutputs(const RunOutputsOptions& options)
    : options_(options),
      label_(options.measured ? "" : "_estimate"),
      printer_(options.lead ? options.progress : nullptr, options.interactive) {
  if (!options.lead) return;
  metrics_.open((std::filesystem::path(options.run_dir) / "metrics.jsonl").string());
  board_ = std::make_unique<energy::TensorBoardWriter>(options.run_dir, "joule");
}

void RunOutputs::message(const std::string& text) { printer_.message(text); }

void RunOutputs::train_line(const pb::TrainRecord& record, double wall_s) {
  if (!options_.lead) return;
  metrics_.write_line(to_json_line(record));
  const int64_t step = record.step();
  board_->scalar("loss", record.loss(), step, wall_s);
  board_->scalar("lr", record.lr(), step, wall_s);
  board_->scalar("batch_size", record.batch_size(), step, wall_s);
  board_->scalar("precision_bits", bits_of(record.precision()), step, wall_s);
}

void RunOutputs::decision_line(const pb::DecisionRecord& record) {
  if (options_.lead) metrics_.write_line(to_json_line(record));
}

void RunOutputs::restart_line(const pb::RestartRecord& record) {
  if (options_.lead) metrics_.write_line(to_json_line(record));
}

void RunOutputs::eval_line(const pb::EvalRecord& record, const std::vector<double>& rank_energy_j, double since_start_s,
                           double wall_s) {
  if (!options_.lead) return;
  metrics_.write_line(to_json_line(record));
  const int64_t step = record.step();
  board_->scalar("accuracy", record.accuracy(), step, wall_s);
  board_->scalar("eval_loss", record.eval_loss(), step, wall_s);
  board_->scalar("energy_j" + label_, record.energy_j(), step, wall_s);
  if (record.samples() > 0) board_->scalar("j_per_sample" + label_, record.energy_j() / record.samples(), step, wall_s);
  for (size_t rank = 0; rank < rank_energy_j.size(); ++rank) {
    const std::string suffix = label_ + "/rank_" + std::to_string(rank);
    board_->scalar("energy_j" + suffix, rank_energy_j[rank], step, wall_s);
    board_->scalar("power_w" + suffix, rank_energy_j[rank] / std::max(since_start_s, 1e-9), step, wall_s);
  }
  board_->flush();
}

void RunOutputs::knobs(int64_t step, const pb::Knobs& knobs, double wall_s) {
  if (!options_.lead) return;
  board_->scalar("batch_size", knobs.global_batch(), step, wall_s);
  board_->scalar("precision_bits", bits_of(knobs.precision()), step, wall_s);
  for (int rank = 0; rank < knobs.sm_clock_mhz_size(); ++rank)
    board_->scalar("sm_clock_mhz/rank_" + std::to_string(rank), knobs.sm_clock_mhz(rank), step, wall_s);
  board_->flush();
}

void RunOutputs::progress(const ProgressState& state, double now_s) { printer_.update(state, now_s); }

void RunOutputs::progress_line(const ProgressState& state) { printer_.line(state); }

void RunOutputs::summary(const pb::Summary& summary) {
  if (!options_.lead) return;
  board_->flush();
  write_file_atomic((std::filesystem::path(options_.run_dir) / "summary.json").string(), to_json_pretty(summary));
}

}  // namespace joule
