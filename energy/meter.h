// Meter: cumulative energy of one rank by domain (gpu, cpu, dram), read at window edges.
// Implementations: NvmlMeter (GPU total-energy counter), RaplMeter (CPU package and DRAM from
// powercap), EstimateMeter (CPU time × watts, labelled "estimate"), and a composite that sums a
// GPU meter with a CPU meter. Energies only grow; readings are differenced by the accountant.
#pragma once

#include <string>
#include <vector>

namespace joule::energy {

struct MeterReading {
  double time_s = 0;  // monotonic clock when read
  double gpu_j = 0;   // cumulative since the meter started; 0 when the domain is absent
  double cpu_j = 0;
  double dram_j = 0;
  double total_j() const { return gpu_j + cpu_j + dram_j; }
};

class Meter {
 public:
  virtual ~Meter() = default;
  virtual MeterReading read() = 0;
  // One entry per domain source, e.g. {"nvml", "rapl"}; "estimate" marks estimated domains.
  virtual std::vector<std::string> sources() const = 0;
  virtual bool measured() const = 0;  // false when any domain is estimated
};

}  // namespace joule::energy
