#include "energy/rank_meter.h"

#include "energy/nvml_meter.h"
#include "energy/rapl_meter.h"

namespace joule::energy {

RankMeter make_rank_meter(const RankMeterOptions& options) {
  RankMeter out;
  std::string cpu_warning;
  std::unique_ptr<Meter> cpu =
      make_cpu_meter(options.estimate_watts_per_core, options.estimate_static_watts, &cpu_warning);
  if (!cpu_warning.empty()) out.warnings.push_back(cpu_warning);
  if (options.gpu.empty()) {
    out.meter = std::move(cpu);
    return out;
  }
  std::string why;
  std::unique_ptr<Meter> gpu = make_gpu_meter(options.gpu, &why);
  if (gpu == nullptr) {
    out.warnings.push_back("GPU energy not measured (" + why + "); this rank's energy is the CPU's only");
    out.meter = std::move(cpu);
  } else {
    out.meter = std::make_unique<CompositeMeter>(std::move(gpu), std::move(cpu));
  }
  return out;
}

}  // namespace joule::energy
