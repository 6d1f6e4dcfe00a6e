#!/usr/bin/env bash
# The energy controller on simulated clusters (issue "Cluster simulator", acceptance): for each
# scenario in examples/sim/, joule-sim with the controller against the same scenario and seed with
# every knob fixed and all ranks at the top clock (--baseline). One table, every row from this run.
# Columns: ranks, baseline and controller energy (MJ, all ranks) and simulated time (s), the
# differences, the final accuracies, the controller's knob changes, its decision time per window
# (EnergyControl::decide, wall ms, mean / max; target <= 10 ms at 4096 ranks), and the row's target with
# PASS / FAIL / "report" (rows without a numeric target). Every run is verified: summary.json parses,
# its energy is the sum of the rank windows' (checked on the smaller scenarios), its source is "sim".
# The scenarios' workload numbers are illustrative (their comments say so); the GPU physics are
# the calibrations of energy/sim/gpus/ (README "Cluster simulator").
#   scripts/bench/sim.sh [--build DIR] [--only NAME]
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build
only=""
while (($#)); do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--only SCENARIO]" >&2; exit 2 ;;
  esac
done
if [ ! -x "$build/bin/joule-sim" ]; then
  bash scripts/setup.sh >/dev/null
  cmake --build "$build" --target joule-sim >/dev/null
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# row LABEL SCENARIO ENERGY_TARGET TIME_TARGET [--set ...]: targets as fractions ("" = report only)
row() {
  local label=$1 scenario=$2 energy_target=$3 time_target=$4
  shift 4
  local dir="$out/$label"
  mkdir -p "$dir"
  for mode in controller baseline; do
    local flags=()
    [ "$mode" = baseline ] && flags=(--baseline)
    "$build/bin/joule-sim" --scenario "examples/sim/$scenario.pbtxt" --output "$dir" --quiet "${flags[@]}" "$@" \
      >"$dir/$mode.log" 2>&1 || { echo "bench: $label ($mode) failed:" >&2; tail -20 "$dir/$mode.log" >&2; exit 1; }
  done
  python3 - "$dir" "$scenario" "$label" "$energy_target" "$time_target" <<'PY'
import glob, json, os, re, sys
dir, scenario, label, energy_target, time_target = sys.argv[1:6]
cost = re.search(r"mean ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms", open(os.path.join(dir, "controller.log")).read())
cost = f"{cost.group(1)} / {cost.group(3)}" if cost else "-"
def load(run):
    s = json.load(open(run + "/summary.json"))
    assert s["sources"] == ["sim"], f"{run}: sources {s['sources']}"
    logs = glob.glob(run + "/rank-*.jsonl")
    assert len(logs) == s["world_size"], f"{run}: {len(logs)} rank logs for {s['world_size']} ranks"
    if s["world_size"] <= 64:
        records = [json.loads(l) for f in logs for l in open(f)]
        total = sum(r["energy_j"]["total"] for r in records if "window" in r and "energy_j" in r)
        assert abs(total - s["energy_j"]) <= 1e-6 * s["energy_j"], f"{run}: windows {total} != summary {s['energy_j']}"
    return s
for mode in ("controller", "baseline"):
    log = open(os.path.join(dir, mode + ".log")).read()
    assert "libprotobuf ERROR" not in log, f"{label} ({mode}): protobuf reported an error:\n{log[:2000]}"
c = load(os.path.join(dir, scenario))
b = load(os.path.join(dir, scenario + "-baseline"))
de = c["energy_j"] / b["energy_j"] - 1
dt = c["seconds"] / b["seconds"] - 1
verdict = "report"
if energy_target:
    ok = -de >= float(energy_target) and (not time_target or dt <= float(time_target))
    verdict = ("PASS" if ok else "FAIL") + f" (>= {100 * float(energy_target):.0f}% less" + \
              (f", <= {100 * float(time_target):.0f}% longer)" if time_target else ")")
if c["world_size"] > 64 and os.environ.get("SIM_KNOBS") == "1":  # the batch and precision decisions, after the table
    with open(os.path.join(os.path.dirname(dir), "knobs.txt"), "a") as out:
        out.write(f"{label}: controller stop {c['stop_reason']} at step {c['steps']}, baseline {b['stop_reason']} at step {b['steps']}\n")
        for line in open(os.path.join(dir, scenario, "metrics.jsonl")):
            r = json.loads(line)
            if r.get("kind") == "decision" and r.get("what") in ("batch_size", "precision"):
                out.write(f"  step {r['step']}: {r['what']}: {r['reason'][:160]}\n")
print(f"| {label} | {c['world_size']} | {b['energy_j'] / 1e6:.3f} | {c['energy_j'] / 1e6:.3f} | {100 * de:+.2f}% | "
      f"{b['seconds']:.1f} | {c['seconds']:.1f} | {100 * dt:+.2f}% | {100 * b['final_accuracy']:.2f} | "
      f"{100 * c['final_accuracy']:.2f} | {c['knob_changes']} | {cost} | {verdict} |")
PY
}

printf "# %s, %s, joule-sim controller vs --baseline (same scenario and seed)\n" "$(date -u +%Y-%m-%d)" \
  "$(lscpu | sed -n 's/^Model name: *//p')"
echo "| row | ranks | baseline MJ | controller MJ | energy | baseline s | controller s | time | baseline acc % | controller acc % | knob changes | decide ms mean / max | target |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
want straggler_64 && row "64 A100, one rank 1.1x slower" straggler_64 0.15 0.01
want slow10pct_64 && row "64 A100, 10% of ranks at 0.8x (max_slowdown 1.009, margin 0.005)" slow10pct_64 0.25 0.01
# the same without the slowdown the target allows (only the fast ranks go down, margin 0.01)
want slow10pct_64 && row "64 A100, 10% of ranks at 0.8x, no max_slowdown, margin 0.01" slow10pct_64 0.25 0.01 \
  --set controller.max_slowdown=0 --set controller.clocks.margin=0.01
want uniform_8 && row "8 A100, no stragglers, max_slowdown 1.05" uniform_8 0.09 "" --set controller.max_slowdown=1.05
want adapt_1024 && SIM_KNOBS=1 row "1024 GPUs, batch and precision on ADAPT, to 60% accuracy" adapt_1024 "" ""
want scale_4096 && row "4096 GPUs" scale_4096 "" ""
if [ -s "$out/knobs.txt" ]; then echo; echo "Batch and precision decisions:"; cat "$out/knobs.txt"; fi
if want scale_4096; then
  # the issue's cost targets: decide() per window at 4096 ranks <= 10 ms (the max over the run, from
  # the row above), and 4096 ranks x 1000 steps, the whole joule-sim run with its 4096 rank logs,
  # in under a minute on this machine
  cost=$(grep -o 'max [0-9.]* ms' "$out/4096 GPUs/controller.log" | grep -o '[0-9.]*')
  start=$(date +%s.%N)
  "$build/bin/joule-sim" --scenario examples/sim/scale_4096.pbtxt --output "$out/steps1000" --quiet \
    --set steps=1000 >"$out/steps1000.log" 2>&1 || { echo "bench: scale_4096 x 1000 steps failed" >&2; tail -20 "$out/steps1000.log" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 - "$cost" "$start" "$end" "$(nproc)" <<'PY'
import sys
cost, wall, cores = float(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]), sys.argv[4]
print()
print(f"4096 ranks: EnergyControl::decide max {cost:.2f} ms per window (target <= 10 ms): {'PASS' if cost <= 10 else 'FAIL'}")
print(f"4096 ranks x 1000 steps, joule-sim with its rank logs: {wall:.1f} s wall on {cores} cores "
      f"(target < 60 s): {'PASS' if wall < 60 else 'FAIL'}")
PY
fi
exit 0
