// joule-sim-fit: GPU calibrations for the cluster simulator (core/proto/sim.proto).
//   fit    fits a GpuCalibration to a published per-clock profile CSV (energy/sim/gpu_fit.h) and
//          prints how well it reproduces the fitted points and, with --validate-workload, the
//          points of other workloads of the same GPU (nothing is fitted on those);
//   scale  scales a fitted calibration to a GPU with one measured (clock, power) point
//          (an extrapolation, marked so in the file).
// The .pbtxt written starts with comment lines saying how it was made and the fit's errors.
// scripts/sim/fit_gpus.sh runs both over shared/reference/gpu-clock-profiles/.
// Exit status: 0 success, 2 invalid input (arguments, CSV, calibration), 1 any other failure.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/exit_status.h"
#include "core/file_util.h"
#include "energy/sim/gpu_fit.h"
#include "energy/sim/gpu_model.h"
#include "energy/sim/profile_csv.h"
#include "examples/cli.h"

namespace {

constexpr const char* kUsage =
    "usage: joule-sim-fit fit --csv FILE --gpu NAME --workload PREFIX... --blocking-power-w W --out FILE.pbtxt [options]\n"
    "       joule-sim-fit scale --from FILE.pbtxt --name NAME --f-min-mhz F --f-max-mhz F --f-step-mhz F\n"
    "                           --anchor-clock-mhz F --anchor-power-w W --out FILE.pbtxt [options]\n"
    "       joule-sim-fit SUBCOMMAND --help\n";

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? separator : "") + parts[i];
  return text;
}

std::string command_line(int argc, char** argv) {
  std::vector<std::string> parts{"joule-sim-fit"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    parts.push_back(arg.find_first_of(" ;'\"") == std::string::npos ? arg : "'" + arg + "'");
  }
  return join(parts, " ");
}

// One comment line per line of `text`.
std::string commented(const std::string& text) {
  std::string out = "# ";
  for (char c : text) out += c == '\n' ? std::string("\n# ") : std::string(1, c);
  return out + "\n";
}

void print_errors(const std::string& label, const joule::sim::GpuModel& model,
                  const std::vector<joule::sim::ProfilePoint>& points, std::string* header) {
  const std::string line = label + ": " + joule::sim::describe_errors(
                                              joule::sim::summarize_errors(joule::sim::compare_with_profile(model, points)));
  std::printf("%s\n", line.c_str());
  *header += commented(line);
}

std::vector<joule::sim::ProfilePoint> only_phase(const std::vector<joule::sim::ProfilePoint>& points,
                                                 const std::string& phase) {
  std::vector<joule::sim::ProfilePoint> kept;
  for (const auto& p : points)
    if (p.phase == phase) kept.push_back(p);
  return kept;
}

// Errors overall and per phase ("fitted", "validation bloom").
void print_error_groups(const std::string& label, const joule::sim::GpuModel& model,
                        const std::vector<joule::sim::ProfilePoint>& points, std::string* header) {
  print_errors(label, model, points, header);
  for (const std::string phase : {"forward", "backward"}) {
    const auto kept = only_phase(points, phase);
    if (!kept.empty() && kept.size() != points.size()) print_errors(label + " " + phase, model, kept, header);
  }
}

int fit_main(int argc, char** argv) {
  CLI::App app("joule-sim-fit fit: a GpuCalibration fitted to a per-clock profile CSV", "joule-sim-fit fit");
  bool help = false;
  std::string csv, out;
  joule::sim::ProfileFilter filter;
  joule::sim::FitOptions options;
  std::vector<std::string> validate_workloads;
  joule::cli::setup(app, &help);
  app.add_option("--csv", csv, "profile CSV (gpu,workload,stage,phase,freq_mhz,time_s,energy_j,power_w)")->type_name("FILE");
  app.add_option("--gpu", filter.gpu, "the CSV's gpu column value to fit")->type_name("NAME");
  app.add_option("--workload", filter.workloads, "workload name prefix to fit on (repeatable)")->type_name("PREFIX");
  app.add_option("--stage", filter.stages, "pipeline stage to fit on (repeatable; default all)")->type_name("N");
  app.add_option("--phase", filter.phases, "phase to fit on (repeatable; default all)")->type_name("NAME");
  app.add_option("--name", options.name, "the calibration's name (default: --gpu)");
  app.add_option("--f-min-mhz", options.f_min_mhz, "lowest clock (default: the lowest profiled)")->check(joule::cli::at_least(0));
  app.add_option("--f-max-mhz", options.f_max_mhz, "highest clock (default: the highest profiled)")->check(joule::cli::at_least(0));
  app.add_option("--f-step-mhz", options.f_step_mhz, "clock step (default: the profile's)")->check(joule::cli::at_least(0));
  app.add_option("--power-cap-w", options.power_cap_w, "power cap; -1 = detect from the flat top, 0 = none")
      ->capture_default_str();
  app.add_option("--blocking-power-w", options.blocking_power_w, "power while blocked at a collective (W)")
      ->check(joule::cli::at_least(0));
  app.add_option("--idle-w", options.idle_w, "idle power (W; 0 = not measured)")->check(joule::cli::at_least(0));
  app.add_option("--source", options.source, "what the fit is based on (default: the CSV and the filter)");
  app.add_option("--note", options.note, "free text for the calibration's note");
  app.add_option("--validate-workload", validate_workloads,
                 "also print the errors on this workload's points (same gpu, stages, phases; repeatable)")
      ->type_name("PREFIX");
  app.add_option("--out", out, "the .pbtxt to write")->type_name("FILE");
  joule::cli::parse(app, argc - 1, argv + 1);
  if (help) return std::fputs(app.help().c_str(), stdout), 0;
  JOULE_CHECK(!csv.empty() && !filter.gpu.empty() && !filter.workloads.empty() && !out.empty(),
              "--csv, --gpu, --workload and --out are required\n", kUsage);
  JOULE_CHECK(app.count("--blocking-power-w") == 1, "--blocking-power-w is required (the power while waiting at a collective)");
  if (options.name.empty()) options.name = filter.gpu;
  if (options.source.empty())
    options.source = std::filesystem::path(csv).filename().string() + ": gpu " + filter.gpu + ", workloads " +
                     join(filter.workloads, "*, ") + "*";

  const auto points = joule::sim::read_profile_csv(csv, filter);
  const joule::sim::GpuModel model(joule::sim::fit_calibration(points, options), "fit of " + options.name);
  std::string header = commented("GpuCalibration (core/proto/sim.proto), generated by scripts/sim/fit_gpus.sh: do not edit.\n" +
                                 command_line(argc, argv));
  print_error_groups("fitted", model, points, &header);
  for (const std::string& workload : validate_workloads) {
    joule::sim::ProfileFilter other = filter;
    other.workloads = {workload};
    print_error_groups("validation " + workload + " (not fitted)", model, joule::sim::read_profile_csv(csv, other), &header);
  }
  joule::write_file_atomic(out, header + joule::sim::format_gpu_calibration(model.calibration()));
  std::printf("wrote %s (effective clock at f_max %.1f MHz)\n", out.c_str(), model.effective_clock_mhz(model.f_max_mhz()));
  return 0;
}

int scale_main(int argc, char** argv) {
  CLI::App app("joule-sim-fit scale: a fitted GpuCalibration scaled to another GPU (extrapolated)", "joule-sim-fit scale");
  bool help = false;
  std::string from, out;
  joule::sim::ScaleOptions options;
  joule::cli::setup(app, &help);
  app.add_option("--from", from, "the fitted calibration whose shape is scaled")->type_name("FILE");
  app.add_option("--name", options.name, "the GPU");
  app.add_option("--f-min-mhz", options.f_min_mhz, "lowest supported clock")->check(joule::cli::greater_than(0));
  app.add_option("--f-max-mhz", options.f_max_mhz, "highest supported clock")->check(joule::cli::greater_than(0));
  app.add_option("--f-step-mhz", options.f_step_mhz, "clock step")->check(joule::cli::greater_than(0));
  app.add_option("--anchor-clock-mhz", options.anchor_clock_mhz, "clock of the measured power point")
      ->check(joule::cli::greater_than(0));
  app.add_option("--anchor-power-w", options.anchor_power_w, "power measured at that clock under load")
      ->check(joule::cli::greater_than(0));
  app.add_option("--power-cap-w", options.power_cap_w, "the GPU's power limit (0 = none)")->check(joule::cli::at_least(0));
  app.add_option("--idle-w", options.idle_w, "measured idle power (0 = not measured)")->check(joule::cli::at_least(0));
  app.add_option("--source", options.source, "the measurement behind the anchor, idle and cap");
  app.add_option("--note", options.note, "free text before the generated note");
  app.add_option("--out", out, "the .pbtxt to write")->type_name("FILE");
  joule::cli::parse(app, argc - 1, argv + 1);
  if (help) return std::fputs(app.help().c_str(), stdout), 0;
  for (const char* flag : {"--from", "--name", "--f-min-mhz", "--f-max-mhz", "--f-step-mhz", "--anchor-clock-mhz",
                           "--anchor-power-w", "--out"})
    JOULE_CHECK(app.count(flag) == 1, flag, " is required\n", kUsage);
  const auto scaled = joule::sim::scale_calibration(joule::sim::load_gpu_calibration(from), options);
  const joule::sim::GpuModel model(scaled, options.name);
  const std::string header =
      commented("GpuCalibration (core/proto/sim.proto), generated by scripts/sim/fit_gpus.sh: do not edit.\n" +
                command_line(argc, argv) + "\nEXTRAPOLATED, not measured: see note.");
  joule::write_file_atomic(out, header + joule::sim::format_gpu_calibration(scaled));
  std::printf("%s: %s\nwrote %s\n", options.name.c_str(), scaled.note().c_str(), out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc >= 2 ? argv[1] : "";
  if (command == "--help" || command == "-h") return std::fputs(kUsage, stdout), 0;
  try {
    if (command == "fit") return fit_main(argc, argv);
    if (command == "scale") return scale_main(argc, argv);
    JOULE_CHECK(false, command.empty() ? "a subcommand is required" : "unknown subcommand '" + command + "'", "\n", kUsage);
  } catch (const std::exception& e) {
    return joule::report_error("joule-sim-fit", -1, e);  // core/exit_status.h
  }
  return joule::kExitFailure;
}
