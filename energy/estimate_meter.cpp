#include "energy/estimate_meter.h"

#include <ctime>

#include "core/error.h"

namespace joule::energy {

EstimateMeter::EstimateMeter(double watts_per_core, double static_watts)
    : cpu_start_s_(process_cpu_seconds()),
      wall_start_s_(monotonic_seconds()),
      watts_per_core_(watts_per_core),
      static_watts_(static_watts) {
  JOULE_CHECK(watts_per_core >= 0 && static_watts >= 0, "energy estimate: watts must be >= 0, got ", watts_per_core,
              " per core and ", static_watts, " static");
}

MeterReading EstimateMeter::read() {
  MeterReading r;
  r.time_s = monotonic_seconds();
  r.cpu_j = energy_for(process_cpu_seconds() - cpu_start_s_, r.time_s - wall_start_s_);
  return r;
}

}  // namespace joule::energy
