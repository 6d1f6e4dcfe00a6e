// The trainer's checkpoints: what goes into one (Run::checkpoint), restoring one before run()
// (Trainer::restore), and continuing the run directory's logs after a resume (Run::resume_logs).
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/build_info.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json_record.h"
#include "core/progress.h"
#include "distributed/checkpoint.h"
#include "distributed/trainer_run.h"

namespace joule {
namespace {

namespace gp = google::protobuf;

// The differences between two messages as "field: old -> new" lines ("" = equal).
std::string differences(const gp::Message& old_value, const gp::Message& new_value) {
  gp::util::MessageDifferencer differ;
  std::string report;
  differ.ReportDifferencesToString(&report);
  differ.Compare(old_value, new_value);
  return report;
}

// "modified: mlp.hidden[0]: 256 -> 128\n..." → "model.mlp.hidden[0] (256 in the checkpoint, 128 now)"
std::string first_difference(const std::string& report, const std::string& section) {
  std::string line = report.substr(0, report.find('\n'));
  const size_t colon = line.find(": ");
  if (colon != std::string::npos) line = line.substr(colon + 2);
  const size_t arrow = line.find(" -> ");
  const size_t field_end = line.find(": ");
  if (arrow == std::string::npos || field_end == std::string::npos) return section + "." + line;  // added or deleted
  return section + "." + line.substr(0, field_end) + " (" + line.substr(field_end + 2, arrow - field_end - 2) +
         " in the checkpoint, " + line.substr(arrow + 4) + " now)";
}

// A tensor's values on the host (a copy from the context's device).
std::vector<float> host_copy(const Context& ctx, const Tensor& tensor) {
  Tensor host = Tensor::empty(tensor.shape());
  copy_tensor(ctx, host, tensor);
  return host.to_floats();
}

// `values` (tensor.numel() floats) into the tensor on the context's device.
void copy_from_host(const Context& ctx, const float* values, const Tensor& tensor) {
  Tensor host = Tensor::empty(tensor.shape());
  std::memcpy(host.raw_data(), values, host.nbytes());
  copy_tensor(ctx, tensor, host);
}

pb::Config checkpoint_config(const LoadedCheckpoint& checkpoint) { return checkpoint.manifest.config(); }

}  // namespace

std::string Trainer::config_changes(const LoadedCheckpoint& checkpoint, const pb::Config& config) {
  pb::Config old_config = checkpoint_config(checkpoint), new_config = config;
  old_config.clear_run();  // name, output and cpu_math: where the run lives and how it was resolved
  new_config.clear_run();
  std::string report = differences(old_config, new_config), changes;
  for (size_t begin = 0; begin < report.size();) {
    const size_t end = report.find('\n', begin);
    changes += (changes.empty() ? "" : "; ") + first_difference(report.substr(begin, end - begin), "config");
    begin = end == std::string::npos ? report.size() : end + 1;
  }
  return changes;
}

void Trainer::restore(const LoadedCheckpoint& checkpoint) {
  State& s = *state_;
  const pb::CheckpointManifest& m = checkpoint.manifest;
  const pb::Config old_config = checkpoint_config(checkpoint);
  const std::string model_change = differences(old_config.model(), s.config.model());
  JOULE_CHECK(model_change.empty(), "--resume ", checkpoint.dir,
              ": the checkpoint is of another model: ", first_difference(model_change, "model"));
  JOULE_CHECK(old_config.data().num_classes() == s.config.data().num_classes(), "--resume ", checkpoint.dir,
              ": data.num_classes is ", old_config.data().num_classes(), " in the checkpoint, ",
              s.config.data().num_classes(), " now");
  const std::string optimizer = s.config.train().optimizer().has_adamw() ? "adamw" : "sgd";
  JOULE_CHECK(m.optimizer() == optimizer, "--resume ", checkpoint.dir, ": train.optimizer is ", m.optimizer(),
              " in the checkpoint, ", optimizer, " now");
  ParameterArena& arena = s.model->parameters();
  JOULE_CHECK(m.parameter_elements() == static_cast<uint64_t>(arena.total_elements()), "--resume ", checkpoint.dir,
              ": ", m.parameter_elements(), " parameter elements, this model has ", arena.total_elements(),
              " (data images of another size?)");
  // another rank count: allowed while the batch still divides (the sampler position is global)
  const int ranks = s.comm.size();
  const pb::Knobs& knobs = m.knobs();
  JOULE_CHECK(knobs.global_batch() % ranks == 0 && knobs.global_batch() / ranks % knobs.micro_batches() == 0,
              "--resume ", checkpoint.dir, ": written by ", m.world_size(), " ranks at global batch ",
              knobs.global_batch(), " (", knobs.micro_batches(),
              " micro-batches), which does not divide over this job's ", ranks, " ranks: resume with ", m.world_size(),
              " ranks or a rank count that divides the batch");
  const std::vector<float>* values = checkpoint.tensor("parameters.f32");
  JOULE_CHECK(values != nullptr, "--resume ", checkpoint.dir, ": no parameters.f32");
  copy_from_host(s.ctx, values->data(), arena.values());
  for (auto& [name, tensor] : s.optimizer->state()) {
    const std::vector<float>* state = checkpoint.tensor("optimizer-" + name + ".f32");
    JOULE_CHECK(state != nullptr, "--resume ", checkpoint.dir, ": no optimizer-", name, ".f32 for train.optimizer ",
                optimizer);
    copy_from_host(s.ctx, state->data(), *tensor);
  }
  s.train = m.train();
  // an interrupted run goes on; a finished one too when the config now asks for more epochs or steps
  const pb::TrainConfig& tc = s.config.train();
  const pb::StopReason stopped = s.train.stop_reason();
  if (stopped == pb::interrupted ||
      (stopped == pb::max_epochs && static_cast<int64_t>(s.train.epoch()) < tc.epochs()) ||
      (stopped == pb::max_steps && (tc.max_steps() == 0 || static_cast<int64_t>(s.train.step()) < tc.max_steps())))
    s.train.set_stop_reason(pb::running);
  s.knobs = knobs;
  s.knobs.mutable_sm_clock_mhz()->Resize(ranks, 0);
  if (s.knobs.precision() == "bf16" && !s.bf16_unavailable.empty()) {
    s.knobs.set_precision("f32");
    s.warnings.push_back("the checkpoint computed in bf16, which is not available here (" + s.bf16_unavailable +
                         "): continuing in f32");
  }
  parse_precision(s.knobs.precision(), &s.ctx.precision);
  s.noise.restore({m.counters().noise_sq(), m.counters().noise_trace(), m.counters().noise_weight()});
  s.resume.active = true;
  s.resume.checkpoint = checkpoint.dir;
  s.resume.counters = m.counters();
  s.resume.rank = checkpoint.rank;
  s.resume.rank_energy_j.assign(m.rank_energy_j().begin(), m.rank_energy_j().end());
  const std::string* journal = checkpoint.blob("controller.pb");
  s.resume.controller = journal != nullptr ? *journal : "";
  if (m.world_size() != static_cast<uint32_t>(ranks))
    s.warnings.push_back("the checkpoint was written by " + std::to_string(m.world_size()) + " ranks, this job has " +
                         std::to_string(ranks) + ": the sampler's position is kept, the steps differ in rounding");
}

void Trainer::resume_from_start() {
  state_->resume.active = true;
  state_->resume.checkpoint.clear();
}

// The logs of a resumed run continue: each rank's window numbers and energy go on from its log (it
// holds the energy of steps trained after the checkpoint, lost now but spent), after a restart
// record in every rank log and in metrics.jsonl. Collective (the restart count is rank 0's).
void Trainer::Run::resume_logs(const std::string& rank_log) {
  const ResumeState& r = s_.resume;
  const energy::LogTotals totals = energy::read_log_totals(rank_log);
  const int rank = s_.comm.rank();
  const double at_checkpoint = rank < static_cast<int>(r.rank_energy_j.size()) ? r.rank_energy_j[rank] : 0.0;
  const double prior_j = std::max(totals.energy_j, at_checkpoint);
  // rank 0's count of restarts decides (a rank new to the job has no log yet)
  segment_ = static_cast<uint32_t>(std::stoul(s_.comm.all_gather(std::to_string(totals.restarts + 1))[0]));
  window_log_->continue_from(totals.windows, prior_j);
  // ranks the checkpoint had and this job has not: their energy still counts in the total
  if (lead_)
    for (size_t old_rank = static_cast<size_t>(s_.comm.size()); old_rank < r.rank_energy_j.size(); ++old_rank) {
      char name[32];
      std::snprintf(name, sizeof name, "rank-%05zu.jsonl", old_rank);
      const energy::LogTotals old = energy::read_log_totals((std::filesystem::path(io_.run_dir) / name).string());
      departed_energy_j_ += std::max(old.energy_j, r.rank_energy_j[old_rank]);
    }
  pb::RestartRecord record;
  record.set_kind("restart");
  record.set_segment(segment_);
  record.set_step(static_cast<uint32_t>(s_.train.step()));
  record.set_checkpoint(r.checkpoint);
  record.set_unix_seconds(unix_seconds());
  record.set_rank(static_cast<uint32_t>(rank));
  record.set_host(s_.comm.host());
  record.set_prior_energy_j(prior_j);
  window_log_->write_line(to_json_line(record));
  record.clear_rank();
  record.clear_host();  // metrics.jsonl: prior_energy_j is rank 0's; the summary has every rank's
  outputs_.restart_line(record);
  outputs_.message(
      r.checkpoint.empty()
          ? "resume: no complete checkpoint: starting over at step 0 (restart " + std::to_string(segment_) + ")"
          : "resume: continuing from " + r.checkpoint + " at step " + std::to_string(s_.train.step()) + ", epoch " +
                std::to_string(s_.train.epoch()) + " (restart " + std::to_string(segment_) + ")");
  const pb::RunCounters& c = r.counters;
  samples_before_step_ = c.samples_before_step();
  epoch_loss_ = c.epoch_loss();
  epoch_steps_ = c.epoch_steps();
  next_scheduled_ = c.next_scheduled();
  knob_changes_ = c.knob_changes();
  decisions_ = c.decisions();
  last_lr_ = c.last_lr();
  cooldown_start_lr_ = c.cooldown_start_lr();
  start_s_ -= c.seconds();  // elapsed time and throughput go on from the checkpoint's
  eval_pending_ = c.eval_pending();
  if (!r.checkpoint.empty()) last_checkpoint_ = checkpoint_dir_name(s_.train.step());  // not written again
  window_samples_start_ = s_.train.samples();  // the first window opens here
  // the controller: its inputs replayed (what it measured and fitted), its pending change kept
  if (control_ != nullptr && !r.controller.empty()) {
    pb::ControlJournal journal;
    if (!journal.ParseFromString(r.controller) || !control_->replay(journal))
      outputs_.message("warning: resume: the controller's record is from " + std::to_string(journal.ranks()) +
                       " ranks: the controller starts over (profiles and fits are measured again)");
    else if (journal.events_size() > 0)
      outputs_.message("resume: the energy controller continues from its " + std::to_string(journal.events_size()) +
                       " recorded inputs (windows, evaluations)");
    if (c.has_pending_knobs()) control_knobs_ = c.pending_knobs();
  }
  const uint32_t clock = rank < s_.knobs.sm_clock_mhz_size() ? s_.knobs.sm_clock_mhz(rank) : 0;
  if (clock != 0) apply_clock(clock);
}

bool Trainer::Run::checkpoint_due(const StepAgreement& agreed) const {
  const pb::CheckpointConfig& cc = s_.config.checkpoint();
  if (!cc.enabled() || s_.train.stop_reason() != pb::running) return false;  // the final one comes in finish()
  return agreed.checkpoint_due ||
         (cc.every_steps() > 0 && static_cast<int64_t>(s_.train.step()) % cc.every_steps() == 0);
}

bool Trainer::Run::seconds_due() const {
  const double every = s_.config.checkpoint().every_seconds();
  return s_.config.checkpoint().enabled() && every > 0 && now_seconds() - last_checkpoint_s_ >= every;
}

double Trainer::Run::now_seconds() { return monotonic_seconds(); }

void Trainer::Run::checkpoint(const std::string& why) {
  const double t0 = now_seconds();
  window_log_->clock().enter(energy::Phase::checkpoint, t0);
  CheckpointContent content;
  pb::CheckpointManifest& m = content.manifest;
  m.set_step(s_.train.step());
  m.set_joule_version(JOULE_VERSION);
  m.set_unix_seconds(unix_seconds());
  *m.mutable_config() = s_.config;
  *m.mutable_train() = s_.train;
  *m.mutable_knobs() = s_.knobs;
  m.set_cpu_math(s_.cpu_math.name);
  m.set_optimizer(s_.config.train().optimizer().has_adamw() ? "adamw" : "sgd");
  ParameterArena& arena = s_.model->parameters();
  m.set_parameter_elements(static_cast<uint64_t>(arena.total_elements()));
  pb::RunCounters* c = m.mutable_counters();
  c->set_samples_before_step(samples_before_step_);
  c->set_epoch_loss(epoch_loss_);
  c->set_epoch_steps(epoch_steps_);
  c->set_next_scheduled(static_cast<uint32_t>(next_scheduled_));
  c->set_knob_changes(knob_changes_);
  c->set_decisions(decisions_);
  c->set_last_lr(last_lr_);
  c->set_cooldown_start_lr(cooldown_start_lr_);
  const GradientNoiseEstimate::Sums noise = s_.noise.sums();
  c->set_noise_sq(noise.sq);
  c->set_noise_trace(noise.trace);
  c->set_noise_weight(noise.weight);
  c->set_seconds(t0 - start_s_);
  c->set_eval_pending(s_.train.stop_reason() == pb::interrupted &&
                      s_.train.last_eval_step() != static_cast<int64_t>(s_.train.step()) && eval_cut_);
  c->set_segment(segment_);
  if (control_knobs_) *c->mutable_pending_knobs() = *control_knobs_;
  if (lead_ && control_ != nullptr)
    content.blobs.emplace_back("controller.pb", control_->journal().SerializeAsString());
  // tensors as host f32 (on a GPU context: copied here first)
  std::vector<std::vector<float>> host;
  if (lead_) {
    host.push_back(host_copy(s_.ctx, arena.values()));
    content.tensors.push_back({"parameters.f32", host.back().data(), arena.total_elements()});
    for (auto& [name, tensor] : s_.optimizer->state()) {
      host.push_back(host_copy(s_.ctx, *tensor));
      content.tensors.push_back({"optimizer-" + name + ".f32", host.back().data(), tensor->numel()});
    }
  }
  pb::RankCheckpoint& rank = content.rank;
  rank.set_rank(static_cast<uint32_t>(s_.comm.rank()));
  rank.set_host(s_.comm.host());
  rank.set_energy_j(window_log_->closed_energy_j());
  rank.set_windows(window_log_->windows());
  const int r = s_.comm.rank();
  rank.set_sm_clock_mhz(r < s_.knobs.sm_clock_mhz_size() ? s_.knobs.sm_clock_mhz(r) : 0);
  content.after_rank_file = [this] {
    if (segment_ == 0)
      inject_fault(s_.fault_plan, s_.comm.rank(), static_cast<int64_t>(s_.train.step()), FaultPoint::checkpoint);
  };
  const CheckpointWritten written = write_checkpoint(s_.comm, io_.run_dir, content, s_.config.checkpoint().keep());
  window_log_->clock().enter(energy::Phase::idle, now_seconds());
  last_checkpoint_s_ = now_seconds();
  if (written.error.empty()) {
    last_checkpoint_ = written.dir;
    checkpoint_error_.clear();
    outputs_.message("step " + std::to_string(s_.train.step()) + ": checkpoint " + written.dir + " (" + why + ", " +
                     format_duration(now_seconds() - t0) + ")");
  } else {
    checkpoint_error_ = written.error;
    outputs_.message("warning: step " + std::to_string(s_.train.step()) + ": checkpoint " + written.dir +
                     " failed, training goes on: " + written.error);
  }
}

}  // namespace joule
