// Fitting a GpuCalibration (core/proto/sim.proto) to measured per-clock profile points, and scaling
// a fitted calibration to another GPU of which only a few points are measured.
//
// Fit. The GPU's curve is fitted on every point; with per_phase and more than one phase in the
// points, forward and backward each get their own curve, fitted on that phase's points alone (the
// A40's phases differ in clock sensitivity and in the power they settle at under the cap). Each
// curve is fitted the same way. The points are grouped into series (gpu, workload, stage, phase),
// each normalised at its own highest clock, as the published curves are: y_t = t/t(top),
// y_E = E/E(top). With u = f/f_max:
//   - power: for fixed gamma and cap, static_w and dynamic_w are linear least squares of the relative
//     residual (s + d·u^γ)/P − 1 over the points below the cap (measured P < 0.99·cap; all points
//     without a cap); fits with s < 0 or d ≤ 0 are refused;
//   - cap: where P(f) reaches it, the clock is pulled down to u_c = ((cap − s)/d)^(1/γ);
//   - time: with x = 1/u_eff − 1 (u_eff = min(u, u_c)) and x_top at the series' top, the model
//     y_t = (1 + a·x)/(1 + a·x_top) rearranges to y_t − 1 = a·(x − y_t·x_top): a is a one-parameter
//     linear least squares, clamped to [0, 1];
//   - the time shape's bend (sim.proto's time_exponent_p), after gamma and the cap below: p on a
//     grid 1..10 by 0.5, then golden-section search within the best cell; at each p, gamma again
//     (golden-section within ±1 of the unbent fit's) with a by golden-section in [0, 1], the cap
//     kept; then the cap candidates within ±5 W of it at that p. The bend is kept only if it
//     lowers the objective (not for rounding noise: an exact c0 + c1/f curve keeps p = 1). The
//     published profiles bend (A100 GPT-3: p ≈ 4.1 forward, 5.6 backward), which matters where
//     the controller works: near the top clock, c0 + c1/f overstates the slowdown;
//   - gamma (grid 1..10 by 0.05, then golden-section search on the best cell) and the cap minimise
//     the mean over points of e_t² + e_E² + e_P², the relative errors of normalised time, normalised
//     energy and absolute power (compare_with_profile in gpu_model.h): equal weights, because the
//     simulator needs all three.
//   - cap detection (power_cap_w < 0): the candidates are "no cap" and 0.5 W steps over
//     [0.85, 1]·(the highest measured power); a cap wins only if it lowers the objective, i.e. when
//     the top of the profile is flat in time and power (the A40 at its 300 W limit).
// The fitted numbers are rounded (a to 1e-4, p to 1e-3, watts to 0.01 W, gamma to 1e-3) before the result is
// returned, so a calibration written to a file and read back is the one that was evaluated.
#pragma once

#include <string>
#include <vector>

#include "core/proto/sim.pb.h"
#include "energy/sim/profile_csv.h"

namespace joule::sim {

struct FitOptions {
  std::string name;             // the GPU (required)
  double f_min_mhz = 0;         // 0: the lowest profiled clock
  double f_max_mhz = 0;         // 0: the highest profiled clock
  double f_step_mhz = 0;        // 0: the smallest spacing between profiled clocks
  double power_cap_w = -1;      // < 0: detect (above); 0: none; > 0: this cap
  double blocking_power_w = 0;  // copied into the calibration (W)
  double idle_w = 0;            // copied (W; 0 = not measured)
  std::string source;           // copied
  std::string note;             // copied
  bool per_phase = true;        // forward and backward curves of their own (above)
};

// At least 3 distinct clocks with positive times, energies and powers, and no clock twice in a
// series; invalid input otherwise.
pb::GpuCalibration fit_calibration(const std::vector<ProfilePoint>& points, const FitOptions& options);

// Scaling of `shape` (a fitted calibration of another GPU) to a GPU with its own clock range and
// one measured (clock, power) point under load. The clock axis is relative: u = f/f_max keeps the
// shape's time sensitivities and gammas. One factor k = anchor_power_w / P_shape(u_anchor) (the
// shape's GPU curve, uncapped, at u_anchor = anchor_clock_mhz/f_max_mhz) multiplies static_w and
// dynamic_w of every curve and blocking_power_w; power_cap_w (for every curve) and idle_w are this
// GPU's own. The result is marked
// extrapolated, and its note says what was scaled, by how much, and where the cap then binds.
struct ScaleOptions {
  std::string name;
  double f_min_mhz = 0, f_max_mhz = 0, f_step_mhz = 0;  // required
  double anchor_clock_mhz = 0;                          // required, in [f_min, f_max]
  double anchor_power_w = 0;                            // required, > 0, not above power_cap_w
  double power_cap_w = 0;                               // 0 = none
  double idle_w = 0;
  std::string source;  // the measurement behind the anchor, idle and cap
  std::string note;    // prepended to the generated note
};
pb::GpuCalibration scale_calibration(const pb::GpuCalibration& shape, const ScaleOptions& options);

}  // namespace joule::sim
