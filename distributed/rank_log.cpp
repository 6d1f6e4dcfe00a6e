#include "distributed/rank_log.h"

#include <sys/time.h>

#include <cstdio>
#include <filesystem>

#include "core/json_record.h"
#include "core/proto/records.pb.h"
#include "energy/estimate_meter.h"

namespace joule {
namespace {

// Sets the PhaseBreakdown field named like each phase (the record's field names are the phase names).
void set_phases(pb::PhaseBreakdown* out, const energy::PhaseSeconds& values) {
  const google::protobuf::Descriptor* d = out->GetDescriptor();
  for (size_t i = 0; i < energy::kPhaseCount; ++i)
    out->GetReflection()->SetDouble(out, d->FindFieldByName(energy::phase_name(static_cast<energy::Phase>(i))),
                                    values[i]);
}

}  // namespace

// forwarding: unix_seconds() is defined in core/clock.cpp now; removed when the trainer split lands

RankLog::RankLog(const std::string& run_dir, const Communicator& comm, energy::Meter& meter, double window_s,
                 const std::string& precision)
    : comm_(comm),
      meter_(meter),
      clock_(energy::monotonic_seconds()),
      accountant_(meter),
      window_s_(window_s),
      precision_(precision),
      wall_start_(unix_seconds()) {
  char name[32];
  std::snprintf(name, sizeof name, "rank-%05d.jsonl", comm.rank());
  std::filesystem::create_directories(run_dir);
  writer_.open((std::filesystem::path(run_dir) / name).string());
}

void RankLog::step_done(int64_t step, int64_t samples, int64_t global_batch, bool force) {
  const double now_s = energy::monotonic_seconds();
  if (first_step_ == 0 && samples > 0) first_step_ = step;
  samples_ += samples;
  if (!force && now_s - clock_.window_start() < window_s_) return;
  const double length = now_s - clock_.window_start();
  const energy::PhaseSeconds seconds = clock_.take_window(now_s);
  const energy::WindowEnergy energy = accountant_.close_window(seconds);

  pb::RankWindowRecord r;
  r.set_rank(static_cast<uint32_t>(comm_.rank()));
  r.set_host(comm_.host());
  r.set_window(window_++);
  r.set_t_start(wall_start_);
  r.set_t_end(wall_start_ + length);
  r.set_step_first(static_cast<uint32_t>(first_step_ > 0 ? first_step_ : step));
  r.set_step_last(static_cast<uint32_t>(step));
  r.set_samples(static_cast<double>(samples_));
  r.set_batch_size(static_cast<uint32_t>(global_batch));
  r.set_precision(precision_);
  set_phases(r.mutable_seconds(), seconds);
  pb::DomainEnergy* domains = r.mutable_energy_j();
  domains->set_gpu(energy.gpu_j);
  domains->set_cpu(energy.cpu_j);
  domains->set_dram(energy.dram_j);
  domains->set_total(energy.total_j);
  set_phases(r.mutable_phase_energy_j(), energy.phase_j);
  r.set_avg_power_w(length > 0 ? energy.total_j / length : 0);
  for (const std::string& source : meter_.sources()) r.add_sources(source);
  r.set_measured(meter_.measured());
  writer_.write_line(to_json_line(r));
  wall_start_ += length;
  first_step_ = 0;
  samples_ = 0;
}

}  // namespace joule
