// GpuModel: one GPU type's step time, power and energy against its requested SM clock, from a
// GpuCalibration (core/proto/sim.proto, which states the model). Pure functions of the calibration:
// no clocks, no randomness, no state, so the simulator's ranks agree on every number.
//
// Clocks are in MHz, power in W; step_time_factor and energy_factor are dimensionless, relative to
// the same phase at the requested clock f_max_mhz (where both are 1, capped or not). A requested
// clock is clamped to [f_min_mhz, f_max_mhz] and not snapped to the step: a power-limited card
// also runs between its supported clocks on average.
//
// Also here: the comparison of a calibration with measured profile points (ProfilePoint, grouped
// into series of one gpu/workload/stage/phase, each normalised at its own highest clock), used by
// joule-sim-fit's error table and the tests; the fit minimises the same errors in its own loop.
#pragma once

#include <string>
#include <vector>

#include "core/proto/sim.pb.h"
#include "energy/sim/profile_csv.h"

namespace joule::sim {

enum class StepPhase { any, forward, backward };

// "forward" / "backward" → that phase; any other name → any (the GPU's curve).
StepPhase step_phase_from_name(const std::string& phase);

// τ = ((a·r)^p + (1 − a)^p)^(1/p), r = f_max/f_eff (sim.proto): the step time relative to an
// uncapped step at f_max; p = 1 gives a·r + 1 − a exactly.
double time_shape(double a, double p, double clock_ratio);

// Text format (.pbtxt) → calibration, refused with "<origin>: <field>: <why>" when a required field
// is missing or a value is out of its range (sim.proto gives the ranges); parse errors name
// origin:line:column. load_gpu_calibration reads the file at `path` (origin = path).
pb::GpuCalibration parse_gpu_calibration(const std::string& text, const std::string& origin);
pb::GpuCalibration load_gpu_calibration(const std::string& path);
void validate_gpu_calibration(const pb::GpuCalibration& calibration, const std::string& origin);
// Text format with every field written out, for the committed .pbtxt files.
std::string format_gpu_calibration(const pb::GpuCalibration& calibration);

class GpuModel {
 public:
  // Validates (origin names the calibration in errors).
  explicit GpuModel(pb::GpuCalibration calibration, const std::string& origin = "GPU calibration");

  const pb::GpuCalibration& calibration() const { return calibration_; }
  double f_max_mhz() const { return calibration_.f_max_mhz(); }
  // The supported clocks, f_max down to f_min by f_step (MHz).
  std::vector<double> clocks_mhz() const;

  // Each takes the phase whose curve applies: forward/backward use their own curve when the
  // calibration has one, otherwise (and for StepPhase::any) the GPU's curve.
  double effective_clock_mhz(double requested_mhz, StepPhase phase = StepPhase::any) const;  // clamped, capped
  double time_sensitivity(StepPhase phase = StepPhase::any) const;                            // a
  double time_exponent(StepPhase phase = StepPhase::any) const;                               // p
  double step_time_factor(double requested_mhz, StepPhase phase = StepPhase::any) const;     // t(f)/t(f_max)
  double power_w(double requested_mhz, StepPhase phase = StepPhase::any) const;              // P(f_eff)
  double energy_factor(double requested_mhz, StepPhase phase = StepPhase::any) const;        // E(f)/E(f_max)
  // The uncapped power law at clock f (MHz) itself, for the fit and the scaling.
  double uncapped_power_w(double clock_mhz, StepPhase phase = StepPhase::any) const;

 private:
  struct Curve {
    double a = 0, p = 1, static_w = 0, dynamic_w = 0, gamma = 1;
    double capped_clock_mhz = 0;  // where P = the cap; f_max when no cap binds
  };
  const Curve& curve(StepPhase phase) const;
  double clamp_clock(double requested_mhz) const;
  double power_at(const Curve& c, double clock_mhz) const;
  double tau(const Curve& c, double effective_mhz) const;  // time_shape(a, p, f_max/f)

  pb::GpuCalibration calibration_;
  Curve any_, forward_, backward_;
};

// One profile point against the model; errors are signed, relative (model / measured − 1).
struct PointError {
  ProfilePoint point;
  double time_error = 0;    // normalised time t/t(top), top = the series' highest clock
  double energy_error = 0;  // normalised energy E/E(top)
  double power_error = 0;   // absolute power
};

struct ErrorSummary {
  int points = 0;
  double max_time = 0, max_energy = 0, max_power = 0;  // max |error|
  double rms_time = 0, rms_energy = 0, rms_power = 0;
  PointError worst_time, worst_energy, worst_power;    // where each maximum is
};

// Every point against the model; the series are the points' (gpu, workload, stage, phase) groups,
// each of which must include its highest clock only once (invalid input otherwise).
std::vector<PointError> compare_with_profile(const GpuModel& model, const std::vector<ProfilePoint>& points);
ErrorSummary summarize_errors(const std::vector<PointError>& errors);
// "time 1.05% (gpt3-175b… stage 7 backward 885 MHz), energy …, power …" with rms values.
std::string describe_errors(const ErrorSummary& summary);

}  // namespace joule::sim
