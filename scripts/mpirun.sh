#!/usr/bin/env bash
# mpirun with clean interrupts: `scripts/mpirun.sh -np 2 build/bin/joule-train --config ...` takes
# the same arguments as mpirun. Open MPI's mpirun answers SIGINT/SIGTERM by killing the job and
# exiting 1, whatever the ranks were doing; a signal it forwards instead (SIGUSR1) lets every rank
# stop at the next step, write its summary and exit 3. This script runs mpirun in a process group
# of its own (so a terminal's Ctrl-C reaches only this script), turns Ctrl-C / SIGTERM into SIGUSR1
# for mpirun, and exits with mpirun's status: 3 after an interrupt. A second Ctrl-C is forwarded as
# SIGINT (mpirun then ends the job at once). MPIRUN names another mpirun (default: mpirun).
set -u
set -m  # job control: the background mpirun gets its own process group
"${MPIRUN:-mpirun}" "$@" </dev/null &
pid=$!
interrupts=0
forward() {
  interrupts=$((interrupts + 1))
  if ((interrupts == 1)); then
    echo "mpirun.sh: stopping the job cleanly (Ctrl-C again to end it at once)" >&2
    kill -USR1 "$pid" 2>/dev/null
  else
    kill -INT "$pid" 2>/dev/null
  fi
}
trap forward INT TERM
while :; do
  wait "$pid"
  status=$?
  kill -0 "$pid" 2>/dev/null || exit "$status"  # else wait returned for a trapped signal: wait again
done
