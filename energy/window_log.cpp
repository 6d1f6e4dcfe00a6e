#include "energy/window_log.h"

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_record.h"
#include "energy/rank_log_reader.h"
#include "core/proto/records.pb.h"

namespace joule::energy {
namespace {

// Sets the PhaseBreakdown field named like each phase (the record's field names are the phase names).
void set_phases(pb::PhaseBreakdown* out, const PhaseSeconds& values) {
  const google::protobuf::Descriptor* d = out->GetDescriptor();
  for (size_t i = 0; i < kPhaseCount; ++i)
    out->GetReflection()->SetDouble(out, d->FindFieldByName(phase_name(static_cast<Phase>(i))), values[i]);
}

}  // namespace

LogTotals read_log_totals(const std::string& path) {
  LogTotals totals;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return totals;
  uint32_t skipped = 0, corrupt = 0;
  const RankLog log = read_rank_log(path, &skipped, &corrupt, size_t{1} << 30);
  totals.windows = static_cast<uint32_t>(log.windows.size());
  totals.restarts = log.restarts;
  for (const pb::RankWindowRecord& w : log.windows) totals.energy_j += w.energy_j().total();
  return totals;
}

void WindowLog::continue_from(uint32_t windows, double prior_energy_j) {
  window_ = windows;
  prior_j_ = prior_energy_j;
}

WindowLog::WindowLog(const std::string& path, uint32_t rank, std::string host, Meter& meter, double window_s,
                     double now_s, double wall_s)
    : WindowLog(std::function<void(const std::string&)>{}, rank, std::move(host), meter, window_s, now_s, wall_s) {
  writer_.open(path);
}

WindowLog::WindowLog(std::function<void(const std::string&)> sink, uint32_t rank, std::string host, Meter& meter,
                     double window_s, double now_s, double wall_s)
    : rank_(rank),
      host_(std::move(host)),
      meter_(meter),
      clock_(now_s),
      accountant_(meter),
      window_s_(window_s),
      wall_start_(wall_s),
      sink_(std::move(sink)) {}

void WindowLog::step_done(int64_t step, int64_t samples) {
  if (first_step_ == 0) first_step_ = step;
  samples_ += samples;
}

WindowEnergy WindowLog::close_window(int64_t step, const WindowKnobs& knobs, const std::string& decision, double now_s,
                                     const std::function<std::string(const WindowEnergy&)>& decide) {
  const WindowEnergy energy = take_window(now_s);
  const std::string decided = decide ? decide(energy) : std::string();
  write_window(step, knobs, decision + (decision.empty() || decided.empty() ? "" : "; ") + decided, energy);
  return energy;
}

WindowEnergy WindowLog::take_window(double now_s) {
  JOULE_ASSERT(taken_length_s_ < 0, "take_window twice without write_window");
  taken_length_s_ = now_s - clock_.window_start();
  return accountant_.close_window(clock_.take_window(now_s));
}

void WindowLog::write_window(int64_t step, const WindowKnobs& knobs, const std::string& decision,
                             const WindowEnergy& energy) {
  JOULE_ASSERT(taken_length_s_ >= 0, "write_window without take_window");
  const double length = taken_length_s_;
  taken_length_s_ = -1;
  pb::RankWindowRecord r;
  r.set_rank(rank_);
  r.set_host(host_);
  r.set_window(window_++);
  r.set_t_start(wall_start_);
  r.set_t_end(wall_start_ + length);
  r.set_step_first(static_cast<uint32_t>(first_step_ > 0 ? first_step_ : step));
  r.set_step_last(static_cast<uint32_t>(step));
  r.set_samples(static_cast<double>(samples_));
  r.set_batch_size(knobs.batch_size);
  r.set_precision(knobs.precision);
  r.set_sm_clock_mhz(knobs.sm_clock_mhz);
  r.set_decision(decision);
  set_phases(r.mutable_seconds(), energy.phase_seconds);
  pb::DomainEnergy* domains = r.mutable_energy_j();
  domains->set_gpu(energy.gpu_j);
  domains->set_cpu(energy.cpu_j);
  domains->set_dram(energy.dram_j);
  domains->set_total(energy.total_j);
  set_phases(r.mutable_phase_energy_j(), energy.phase_j);
  r.set_avg_power_w(length > 0 ? energy.total_j / length : 0);
  for (const std::string& source : meter_.sources()) r.add_sources(source);
  r.set_measured(meter_.measured());
  if (sink_) {
    sink_(to_json_line(r));
  } else {
    writer_.write_line(to_json_line(r));
  }
  wall_start_ += length;
  first_step_ = 0;
  samples_ = 0;
}

}  // namespace joule::energy
