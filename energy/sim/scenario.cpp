// SimScenario: parsing, validation against sim.proto's ranges, and the GPU calibration's path.
#include "energy/sim/scenario.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/file_util.h"
#include "core/text_parse_error.h"

#ifndef JOULE_SIM_GPUS_DIR
#define JOULE_SIM_GPUS_DIR "energy/sim/gpus"
#endif

namespace joule::sim {
namespace {

namespace gp = google::protobuf;

// Checks of one message's fields, each refused as "<origin>: <prefix><field>: <why>".
class FieldChecker {
 public:
  FieldChecker(const std::string& origin, std::string prefix) : origin_(origin), prefix_(std::move(prefix)) {}

  void present(bool has, const char* field) const {
    JOULE_CHECK(has, origin_, ": ", prefix_, field, ": missing (a required field)");
  }
  // lo_open / hi_open: whether the bound itself is excluded; an infinite bound is none.
  void in_range(double value, const char* field, double lo, bool lo_open, double hi, bool hi_open) const {
    const bool ok = std::isfinite(value) && (lo_open ? value > lo : value >= lo) && (hi_open ? value < hi : value <= hi);
    JOULE_CHECK(ok, origin_, ": ", prefix_, field, ": expected a value in ", lo_open ? "(" : "[", lo, ", ", hi,
                hi_open ? ")" : "]", ", got ", value);
  }
  void at_least(double value, const char* field, double lo) const {
    JOULE_CHECK(std::isfinite(value) && value >= lo, origin_, ": ", prefix_, field, ": expected a value ≥ ", lo,
                ", got ", value);
  }
  void above(double value, const char* field, double lo) const {
    JOULE_CHECK(std::isfinite(value) && value > lo, origin_, ": ", prefix_, field, ": expected a value > ", lo,
                ", got ", value);
  }

 private:
  const std::string& origin_;
  std::string prefix_;
};

void validate_workload(const pb::SimWorkload& w, const std::string& origin) {
  const FieldChecker check(origin, "workload.");
  check.present(w.has_sample_s(), "sample_s");
  check.above(w.sample_s(), "sample_s", 0);
  check.present(w.has_reference_batch(), "reference_batch");
  check.at_least(static_cast<double>(w.reference_batch()), "reference_batch", 1);
  check.at_least(w.batch_half(), "batch_half", 0);
  check.above(w.bf16_speedup(), "bf16_speedup", 0);
  check.in_range(w.forward_fraction(), "forward_fraction", 0, true, 1, true);
  check.present(w.has_gradient_bytes(), "gradient_bytes");
  check.at_least(w.gradient_bytes(), "gradient_bytes", 0);
}

void validate_network(const pb::SimNetwork& n, const std::string& origin) {
  const FieldChecker check(origin, "network.");
  check.present(n.has_alpha_s(), "alpha_s");
  check.at_least(n.alpha_s(), "alpha_s", 0);
  check.present(n.has_bandwidth_bytes_per_s(), "bandwidth_bytes_per_s");
  check.above(n.bandwidth_bytes_per_s(), "bandwidth_bytes_per_s", 0);
  check.in_range(n.overlap_fraction(), "overlap_fraction", 0, false, 1, false);
}

void validate_heterogeneity(const pb::SimHeterogeneity& h, int ranks, const std::string& origin) {
  const FieldChecker check(origin, "heterogeneity.");
  check.in_range(h.slow_fraction(), "slow_fraction", 0, false, 1, false);
  check.above(h.slow_factor(), "slow_factor", 0);
  std::set<int> seen;
  for (int i = 0; i < h.rank_speed_size(); ++i) {
    const pb::RankSpeed& s = h.rank_speed(i);
    const FieldChecker entry(origin, "heterogeneity.rank_speed[" + std::to_string(i) + "].");
    entry.present(s.has_rank(), "rank");
    entry.in_range(s.rank(), "rank", 0, false, ranks, true);
    entry.present(s.has_factor(), "factor");
    entry.above(s.factor(), "factor", 0);
    JOULE_CHECK(seen.insert(s.rank()).second, origin, ": heterogeneity.rank_speed[", i, "].rank: rank ", s.rank(),
                " is listed twice");
  }
  check.at_least(h.jitter_sigma(), "jitter_sigma", 0);
  check.in_range(h.straggler_probability(), "straggler_probability", 0, false, 1, false);
  check.at_least(h.straggler_factor(), "straggler_factor", 1);
  check.in_range(h.thermal_drift(), "thermal_drift", 0, false, 1, true);
  check.in_range(h.thermal_spread(), "thermal_spread", 0, false, 1, false);
  if (h.thermal_drift() > 0) {
    check.present(h.has_thermal_tau_s(), "thermal_tau_s");
    check.above(h.thermal_tau_s(), "thermal_tau_s", 0);
  }
}

}  // namespace

SimPrecision sim_precision_from_name(const std::string& name, const std::string& origin, const std::string& field) {
  if (name == "f32") return SimPrecision::f32;
  if (name == "bf16") return SimPrecision::bf16;
  JOULE_FAIL_INPUT(origin, origin.empty() ? "" : ": ", field, ": unknown precision '", name,
                   "' (expected f32 or bf16)");
}

void validate_sim_scenario(const pb::SimScenario& s, const std::string& origin) {
  const FieldChecker check(origin, "");
  check.present(s.has_name() && !s.name().empty(), "name");
  check.present(s.has_gpu() && !s.gpu().empty(), "gpu");
  check.present(s.has_ranks(), "ranks");
  check.in_range(s.ranks(), "ranks", 1, false, 65536, false);
  check.present(s.has_steps(), "steps");
  check.at_least(static_cast<double>(s.steps()), "steps", 1);
  check.present(s.has_global_batch(), "global_batch");
  JOULE_CHECK(s.global_batch() >= s.ranks(), origin, ": global_batch: ", s.global_batch(),
              " is below ranks (", s.ranks(), "): every rank needs at least one sample");
  check.present(s.has_precision(), "precision");
  sim_precision_from_name(s.precision(), origin, "precision");
  check.present(s.has_workload(), "workload");
  validate_workload(s.workload(), origin);
  if (s.ranks() > 1 || s.has_network()) {
    check.present(s.has_network(), "network");
    validate_network(s.network(), origin);
  }
  if (s.has_heterogeneity()) validate_heterogeneity(s.heterogeneity(), s.ranks(), origin);
}

pb::SimScenario parse_sim_scenario(const std::string& text, const std::string& origin) {
  pb::SimScenario scenario;
  gp::TextFormat::Parser parser;
  FirstParseError errors(text);
  parser.RecordErrorsTo(&errors);
  JOULE_CHECK(parser.ParseFromString(text, &scenario), origin, ":", errors.first());
  validate_sim_scenario(scenario, origin);
  return scenario;
}

pb::SimScenario load_sim_scenario(const std::string& path) {
  return parse_sim_scenario(read_text_file(path, "simulation scenario"), path);
}

std::string default_gpu_calibration_dir() { return JOULE_SIM_GPUS_DIR; }

std::string resolve_gpu_calibration_path(const pb::SimScenario& scenario, const std::string& scenario_path,
                                         const std::string& gpus_dir) {
  namespace fs = std::filesystem;
  const fs::path gpu = scenario.gpu();
  const std::string origin = scenario_path.empty() ? "scenario " + scenario.name() : scenario_path;
  JOULE_CHECK(!gpu.empty(), origin, ": gpu: missing (a required field)");
  std::vector<fs::path> candidates;
  if (gpu.is_absolute()) {
    candidates.push_back(gpu);
  } else {
    if (!scenario_path.empty()) candidates.push_back(fs::path(scenario_path).parent_path() / gpu);
    candidates.push_back(fs::path(gpus_dir) / gpu);
  }
  std::string tried;
  for (const fs::path& candidate : candidates) {
    std::error_code error;
    if (fs::is_regular_file(candidate, error)) return candidate.string();
    tried += (tried.empty() ? "" : ", ") + candidate.string();
  }
  JOULE_FAIL_INPUT(origin, ": gpu: no calibration file '", scenario.gpu(), "' (tried ", tried, ")");
}

LoadedScenario load_scenario_with_gpu(const std::string& scenario_path) {
  pb::SimScenario scenario = load_sim_scenario(scenario_path);
  std::string gpu_path = resolve_gpu_calibration_path(scenario, scenario_path);
  GpuModel gpu(load_gpu_calibration(gpu_path), gpu_path);
  return {std::move(scenario), std::move(gpu_path), std::move(gpu)};
}

}  // namespace joule::sim
