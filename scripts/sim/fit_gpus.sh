#!/usr/bin/env bash
# Regenerates the simulator's GPU calibrations (core/proto/sim.proto) from the published per-clock
# profiles in shared/reference/gpu-clock-profiles/ (read SOURCES.md there), with joule-sim-fit:
#   energy/sim/gpus/a100_sxm.pbtxt   fitted (A100-SXM4-80GB)
#   energy/sim/gpus/a40.pbtxt        fitted (A40-48GB)
#   energy/sim/gpus/h200.pbtxt       EXTRAPOLATED: the A100 shape scaled to the H200's measured points
# Usage: scripts/sim/fit_gpus.sh [BUILD_DIR]   (default build/; builds the joule-sim-fit target)
#        JOULE_REFERENCE_DIR=... overrides ../shared/reference.
#
# Where each number comes from:
# A100 and A40 (freq_{A100_SXM,A40}_perseus_stage_profile.csv, Perseus SOSP 2024 artifact):
#   - fitted on the GPT-3 175B profile (bf16, TP8 PP8), all 8 pipeline stages and both phases.
#     Stages 0-6 are identical rows; keeping them all weights the curve as the 8 GPUs of one
#     pipeline (7 run the body stage, 1 the last stage). BLOOM 176B, in the same file, is not
#     fitted on: the tool prints the calibration's errors on it (validation) and so does the test.
#   - f_min_mhz, f_max_mhz, f_step_mhz: the profiled range (A100 855-1410, A40 855-1740, by 15).
#   - three curves, each fitted the same way (gpu_fit.h): the GPU's on every point (for steps of
#     any phase), `forward` on the forward points alone, `backward` on the backward points alone.
#   - time_sensitivity_a and time_exponent_p: the time shape ((a·f_max/f)^p + (1 − a)^p)^(1/p),
#     least squares of the normalised times (with energy and power, gpu_fit.h).
#   - static_w, dynamic_w, gamma: the power law, least squares for fixed gamma, gamma searched.
#   - power_cap_w: detected (--power-cap-w -1): the cap that best explains a flat top of time and
#     power. A40: its 300 W limit (measured plateau 289-299 W; forward settles higher than
#     backward). A100: the top 1380-1410 MHz is flat in time and power too; the fit models it as a
#     cap near the 464-480 W measured at 1410 MHz.
#   - blocking_power_w: 83.64 W (A100) and 70.38 W (A40), the constants of the Perseus notebook
#     (SOURCES.md section 2; it does not say how they were measured).
#   - idle_w: 0 = not measured (nothing in the reference gives an idle power for these cards).
# H200 (no per-clock profile exists; DESIGN.md section 5 "Measured on the lent H200", 2026-11-28):
#   - f range 345-1980 MHz by 15, power_cap_w 700 (its power limit), idle_w 127: measured there.
#   - anchor: a bf16 GEMM 8192^3 drew 648 W (energy counter) while the SM clock fell to 1515 MHz.
#   - time_sensitivity_a, time_exponent_p, gamma of every curve: the A100's, on the relative clock f/f_max.
#   - static_w, dynamic_w (every curve), blocking_power_w: the A100's times
#     k = 648 W / P_A100(u = 1515/1980), the A100 GPU curve's uncapped power at the same relative
#     clock. power_cap_w 700 W for every curve (the A100's phase caps are dropped). The note in the
#     file gives k and the clocks at which the 700 W cap then binds.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath "${1:-$root/build}")
cd "$root"  # relative paths: the command lines recorded in the files do not name this machine
reference=${JOULE_REFERENCE_DIR:-../shared/reference}/gpu-clock-profiles
out=energy/sim/gpus
[ -f "$reference/freq_A100_SXM_perseus_stage_profile.csv" ] ||
  { echo "fit_gpus.sh: no reference profiles in $reference" >&2; exit 2; }
cmake --build "$build" --target joule-sim-fit >/dev/null
tool=$build/bin/joule-sim-fit
mkdir -p "$out"

validation_note="Fitted on GPT-3 175B (bf16, TP8 PP8) stage profiles, all 8 stages, forward and backward; the BLOOM 176B profile of the same file is the validation set (errors in the header)."

echo "== A100-SXM4-80GB"
"$tool" fit --csv "$reference/freq_A100_SXM_perseus_stage_profile.csv" --gpu A100-SXM4-80GB --workload gpt3 \
  --power-cap-w -1 --blocking-power-w 83.64 --idle-w 0 \
  --source "shared/reference/gpu-clock-profiles/freq_A100_SXM_perseus_stage_profile.csv (Perseus SOSP 2024, ml-energy/zeus kronos): workload gpt3-175b-bf16-tp8pp8-stageprofile, stages 0-7, forward+backward" \
  --note "$validation_note The top clocks (1380-1410 MHz) are flat in time and power: modelled as a power cap near the 464-480 W measured at 1410 MHz (not the board limit). blocking_power_w: the constant of the Perseus notebook. idle_w: not measured." \
  --validate-workload bloom --out "$out/a100_sxm.pbtxt"

echo "== A40-48GB"
"$tool" fit --csv "$reference/freq_A40_perseus_stage_profile.csv" --gpu A40-48GB --workload gpt3 \
  --power-cap-w -1 --blocking-power-w 70.38 --idle-w 0 \
  --source "shared/reference/gpu-clock-profiles/freq_A40_perseus_stage_profile.csv (Perseus SOSP 2024, ml-energy/zeus kronos): workload gpt3-175b-bf16-tp8pp8-stageprofile, stages 0-7, forward+backward" \
  --note "$validation_note power_cap_w: detected from the flat top (the 300 W limit of the card; time and power flat above about 1450-1560 MHz). The profile is noisy (about 3-5%, not monotonic: e.g. backward is faster at 960 than at 990 MHz). blocking_power_w: the constant of the Perseus notebook. idle_w: not measured." \
  --validate-workload bloom --out "$out/a40.pbtxt"

echo "== H200 (extrapolated)"
"$tool" scale --from "$out/a100_sxm.pbtxt" --name "NVIDIA H200" \
  --f-min-mhz 345 --f-max-mhz 1980 --f-step-mhz 15 --anchor-clock-mhz 1515 --anchor-power-w 648 \
  --power-cap-w 700 --idle-w 127 \
  --source "DESIGN.md section 5, measured on the lent H200 (2026-11-28): SM clocks 345-1980 MHz by 15, power limit 700 W, idle 127 W, bf16 GEMM 8192^3 at 648 W with the SM clock at 1515 MHz" \
  --note "The anchor is a GEMM, not a training step: the scaled law assumes training draws the same power per relative clock. Under that GEMM the card held 1515 MHz at 648 W; the model puts the 700 W cap higher (the clock below), so it does not reproduce that clock drop." \
  --out "$out/h200.pbtxt"
