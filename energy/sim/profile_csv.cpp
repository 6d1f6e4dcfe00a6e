// Reader for the reference per-clock profile CSV (format in profile_csv.h). Plain comma-separated
// fields: the reference files have no quoting, so a quote character is refused rather than guessed at.
#include "energy/sim/profile_csv.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"

namespace joule::sim {
namespace {

enum Column { kGpu, kWorkload, kStage, kPhase, kFreq, kTime, kEnergy, kPower, kColumnCount };
constexpr std::array<const char*, kColumnCount> kColumnNames = {"gpu",     "workload", "stage",    "phase",
                                                                "freq_mhz", "time_s",   "energy_j", "power_w"};

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::stringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

double parse_number(const std::string& text, const std::string& where, const char* column) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  JOULE_CHECK(!text.empty() && end == text.c_str() + text.size() && errno == 0 && std::isfinite(value), where,
              ": column ", column, ": expected a number, got '", text, "'");
  return value;
}

}  // namespace

bool profile_filter_keeps(const ProfileFilter& filter, const ProfilePoint& point) {
  if (!filter.gpu.empty() && point.gpu != filter.gpu) return false;
  if (!filter.workloads.empty() &&
      std::none_of(filter.workloads.begin(), filter.workloads.end(),
                   [&](const std::string& prefix) { return point.workload.rfind(prefix, 0) == 0; }))
    return false;
  if (!filter.stages.empty() && std::find(filter.stages.begin(), filter.stages.end(), point.stage) == filter.stages.end())
    return false;
  if (!filter.phases.empty() && std::find(filter.phases.begin(), filter.phases.end(), point.phase) == filter.phases.end())
    return false;
  return true;
}

std::vector<ProfilePoint> parse_profile_csv(const std::string& text, const std::string& origin,
                                            const ProfileFilter& filter) {
  std::stringstream lines(text);
  std::string line;
  int line_number = 0;
  std::array<int, kColumnCount> index;
  index.fill(-1);
  bool have_header = false;
  std::vector<ProfilePoint> points;
  while (std::getline(lines, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = origin + ":" + std::to_string(line_number);
    JOULE_CHECK(line.find('"') == std::string::npos, where, ": quoted CSV fields are not supported");
    const std::vector<std::string> fields = split_fields(line);
    if (!have_header) {
      for (size_t i = 0; i < fields.size(); ++i)
        for (int c = 0; c < kColumnCount; ++c)
          if (fields[i] == kColumnNames[c]) index[c] = static_cast<int>(i);
      for (int c = 0; c < kColumnCount; ++c)
        JOULE_CHECK(index[c] >= 0, where, ": the header has no column '", kColumnNames[c], "' (header: ", line, ")");
      have_header = true;
      continue;
    }
    const int needed = *std::max_element(index.begin(), index.end()) + 1;
    JOULE_CHECK(static_cast<int>(fields.size()) >= needed, where, ": ", fields.size(), " fields, expected at least ",
                needed);
    ProfilePoint p;
    p.gpu = fields[index[kGpu]];
    p.workload = fields[index[kWorkload]];
    p.phase = fields[index[kPhase]];
    const double stage = parse_number(fields[index[kStage]], where, "stage");
    JOULE_CHECK(stage >= 0 && stage == std::floor(stage) && stage < 1e6, where, ": column stage: expected an integer ≥ 0, got '",
                fields[index[kStage]], "'");
    p.stage = static_cast<int>(stage);
    p.freq_mhz = parse_number(fields[index[kFreq]], where, "freq_mhz");
    p.time_s = parse_number(fields[index[kTime]], where, "time_s");
    p.energy_j = parse_number(fields[index[kEnergy]], where, "energy_j");
    p.power_w = parse_number(fields[index[kPower]], where, "power_w");
    const std::array<std::pair<double, int>, 4> positive = {
        {{p.freq_mhz, kFreq}, {p.time_s, kTime}, {p.energy_j, kEnergy}, {p.power_w, kPower}}};
    for (const auto& [value, column] : positive)
      JOULE_CHECK(value > 0, where, ": column ", kColumnNames[column], ": expected a value > 0, got ", value);
    if (profile_filter_keeps(filter, p)) points.push_back(std::move(p));
  }
  JOULE_CHECK(have_header, origin, ": empty file (expected a header line naming the columns)");
  return points;
}

std::vector<ProfilePoint> read_profile_csv(const std::string& path, const ProfileFilter& filter) {
  return parse_profile_csv(read_text_file(path, "GPU profile CSV"), path, filter);
}

}  // namespace joule::sim
