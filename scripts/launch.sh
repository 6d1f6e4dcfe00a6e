#!/usr/bin/env bash
# Automatic restart (as torchrun's --max-restarts): runs a joule-train job — the whole command line,
# under mpirun, srun or alone — and when it fails, relaunches it with --resume, which continues the
# run directory from its newest complete checkpoint, until the run completes or the restarts are
# used up. Each restart is reported here and recorded in the run's logs (a "restart" record).
#
#   scripts/launch.sh [--max-restarts N] [--name RUN_NAME] -- COMMAND...
#   e.g. scripts/launch.sh --max-restarts 3 -- mpirun -np 8 build/bin/joule-train --config job.pbtxt
#
# Every launch must reach the same run directory: the command must name it (--set run.name=...),
# or --name gives the name (appended as --set run.name=NAME), or one is made up here
# (<config stem>-<UTC time>) and appended to every launch.
# Restarted: a job that failed (status 1) or died (killed by a signal, mpirun's abort). Not
# restarted: success (0), invalid input (2: the same input fails again) and an interrupt (3: a
# user or scheduler asked it to stop). SIGINT/SIGTERM/SIGUSR1 sent to this script are passed on to
# the job and end the restarts. Exit status: the last launch's.
set -uo pipefail

max_restarts=3
name=""
while (($#)); do
  case "$1" in
    --max-restarts)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { echo "launch: --max-restarts: expected a whole number >= 0, got '${2-}'" >&2; exit 2; }
      max_restarts=$2; shift 2 ;;
    --name)
      [[ $# -ge 2 && -n "$2" ]] || { echo "launch: --name: expected a run name" >&2; exit 2; }
      name=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "launch: unknown option '$1' (usage: scripts/launch.sh [--max-restarts N] [--name RUN_NAME] -- COMMAND...)" >&2; exit 2 ;;
  esac
done
(($#)) || { echo "launch: no command after --: expected the joule-train command line" >&2; exit 2; }
command=("$@")

# the run name: given, in the command, or made up once for every launch
named=0
config=""
for ((i = 0; i < ${#command[@]}; ++i)); do
  arg=${command[$i]}
  [[ "$arg" == run.name=* || "$arg" == --set=run.name=* ]] && named=1
  [[ "$arg" == --config ]] && config=${command[$((i + 1))]-}
  [[ "$arg" == --config=* ]] && config=${arg#--config=}
done
if [[ -n "$name" ]]; then
  command+=(--set "run.name=$name")
elif ((named == 0)); then
  stem=$(basename "${config:-run}"); stem=${stem%.*}; stem=${stem//[^A-Za-z0-9._-]/_}
  name="$stem-$(date -u +%Y%m%d-%H%M%S)"
  command+=(--set "run.name=$name")
fi

child=0
stopping=0
forward() {  # pass the signal to the job and restart no more
  stopping=1
  if ((child > 0)); then kill -s "$1" "$child" 2>/dev/null; fi
}
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward USR1' USR1

attempt=0
while :; do
  if ((attempt == 0)); then
    "${command[@]}" &
  else
    "${command[@]}" --resume &
  fi
  child=$!
  status=0
  while :; do  # wait returns early when a trapped signal arrives: wait again until the job ends
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  child=0
  case $status in
    0) ((attempt > 0)) && echo "launch: the run completed after $attempt restart(s)" >&2; exit 0 ;;
    2) echo "launch: the job refused its input (status 2): not restarting" >&2; exit 2 ;;
    3) echo "launch: the job was interrupted (status 3): not restarting" >&2; exit 3 ;;
  esac
  if ((stopping)); then
    echo "launch: stopped by a signal (job status $status): not restarting" >&2
    exit "$status"
  fi
  if ((attempt >= max_restarts)); then
    echo "launch: the job failed with status $status and the $max_restarts restart(s) are used up" >&2
    exit "$status"
  fi
  ((attempt++))
  how="status $status"
  ((status > 128)) && how="status $status (signal $((status - 128)))"
  echo "launch: restart $attempt/$max_restarts: the job failed ($how); relaunching with --resume" >&2
done
