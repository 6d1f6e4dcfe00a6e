// The knob part of joule-report (energy/report.h): settings tried and decisions taken.
#pragma once

#include <string>
#include <vector>

#include "core/proto/records.pb.h"
#include "core/proto/report.pb.h"

namespace joule::energy {

// Groups every rank's windows by (batch_size, precision, rank 0's sm_clock_mhz) into
// report.settings and copies rank 0's (the first log's) decisions into report.decisions.
void add_knob_view(const std::vector<std::vector<pb::RankWindowRecord>>& windows, pb::RunReport& report);
// The table and decision lines; "" for a run that never changed a knob.
std::string format_knob_view(const pb::RunReport& report);

}  // namespace joule::energy
