// Reader for published per-clock GPU profiles in the reference format of
// shared/reference/gpu-clock-profiles/freq_*_perseus_stage_profile.csv: a header line naming the
// columns gpu,workload,stage,phase,freq_mhz,time_s,energy_j,power_w (any order, extra columns
// ignored), then one row per (gpu, workload, pipeline stage, phase, locked SM clock). Units: MHz,
// s, J, W. A row is one stage's forward or backward pass of one microbatch at that clock.
#pragma once

#include <string>
#include <vector>

namespace joule::sim {

struct ProfilePoint {
  std::string gpu;       // "A100-SXM4-80GB"
  std::string workload;  // "gpt3-175b-bf16-tp8pp8-stageprofile"
  int stage = 0;         // pipeline stage
  std::string phase;     // "forward" or "backward"
  double freq_mhz = 0;   // locked SM clock, > 0
  double time_s = 0;     // > 0
  double energy_j = 0;   // > 0
  double power_w = 0;    // > 0 (energy_j / time_s in the reference files)
};

// Which rows to keep; an empty field keeps every value.
struct ProfileFilter {
  std::string gpu;                      // exact name
  std::vector<std::string> workloads;   // prefixes of the workload name ("gpt3", "bloom"), any of them
  std::vector<int> stages;              // any of them
  std::vector<std::string> phases;      // exact names, any of them
};

bool profile_filter_keeps(const ProfileFilter& filter, const ProfilePoint& point);

// Parses CSV text (origin names it in errors). A missing column, a row with too few fields, a
// number that does not parse or a non-positive clock, time, energy or power is invalid input naming
// origin:line and the column.
std::vector<ProfilePoint> parse_profile_csv(const std::string& text, const std::string& origin,
                                            const ProfileFilter& filter = {});
std::vector<ProfilePoint> read_profile_csv(const std::string& path, const ProfileFilter& filter = {});

}  // namespace joule::sim
