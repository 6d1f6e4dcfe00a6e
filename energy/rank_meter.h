// The meter of one rank: its GPU through NVML when it has one, plus its CPU (RAPL, else the
// labelled estimate). Whatever cannot be measured falls back with one warning each, never an
// error: energy accounting must not stop training.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "energy/meter.h"

namespace joule::energy {

struct RankMeterOptions {
  std::string gpu;  // "" = no GPU on this rank; else an NVML index or the device's PCI bus id
  double estimate_watts_per_core = 12;
  double estimate_static_watts = 0;
};

struct RankMeter {
  std::unique_ptr<Meter> meter;
  std::vector<std::string> warnings;  // one sentence each, for the rank's log output
};

RankMeter make_rank_meter(const RankMeterOptions& options);

}  // namespace joule::energy
