// Simulation scenarios (SimScenario, core/proto/sim.proto): reading a scenario .pbtxt, checking
// every field against the ranges sim.proto gives (refused as "<origin>: <field>: <why>", parse
// errors as origin:line:column), and finding the GPU calibration file it names.
#pragma once

#include <string>

#include "core/proto/sim.pb.h"
#include "energy/sim/gpu_model.h"

namespace joule::sim {

// The two precisions a scenario or a step may ask for.
enum class SimPrecision { f32, bf16 };
// "f32" / "bf16"; anything else is refused naming `field` (and origin, when not empty).
SimPrecision sim_precision_from_name(const std::string& name, const std::string& origin, const std::string& field);

pb::SimScenario parse_sim_scenario(const std::string& text, const std::string& origin);
pb::SimScenario load_sim_scenario(const std::string& path);  // origin = path
void validate_sim_scenario(const pb::SimScenario& scenario, const std::string& origin);

// The calibration file for scenario.gpu: absolute as is; else relative to the folder of
// scenario_path (when not empty), then in gpus_dir (the source tree's energy/sim/gpus/ by default).
// Refused naming "gpu" and the places tried when none exists.
std::string default_gpu_calibration_dir();
std::string resolve_gpu_calibration_path(const pb::SimScenario& scenario, const std::string& scenario_path,
                                         const std::string& gpus_dir = default_gpu_calibration_dir());

// A scenario file with its GPU: what ClusterModel is built from.
struct LoadedScenario {
  pb::SimScenario scenario;
  std::string gpu_path;
  GpuModel gpu;
};
LoadedScenario load_scenario_with_gpu(const std::string& scenario_path);

}  // namespace joule::sim
