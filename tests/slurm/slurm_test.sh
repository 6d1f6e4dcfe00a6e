#!/usr/bin/env bash
# SLURM end-to-end test: a one-node cluster (munged, slurmctld, slurmd) of its own in a temp dir,
# then scripts/slurm/joule.sbatch and srun against it:
#   1. the shipped sbatch script trains 2 ranks, each bound to its own cores (seen from inside the
#      ranks), and writes the run directory; the binary is found from the script's own location
#   2. srun --mpi=pmix -n 2 joule-train directly
#   3. scancel of a running job: the ranks' threads are bound apart, the job ends with exit status 3
#      (scontrol's ExitCode, not 0:15) and the run has its summary.json
#   4. scontrol requeue of a finished job: the requeue runs again in a fresh run directory, the .out
#      holds both runs (JOULE_HOME picks the checkout)
#   5. srun without --mpi=pmix: joule's own error, exit status 2; joule-train alone in a batch
#      script still runs as a single rank
# Usage: slurm_test.sh JOULE_TRAIN_BINARY SOURCE_DIR. Exit 77 (ctest: skipped) when not root, not
# Linux, or slurm-wlm / munge / the Fashion-MNIST data are not installed, or fewer than 2 cores.
# JOULE_SLURM_TEST_KEEP=1 keeps the temp dir (it is kept on failure anyway).
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
[ $# -eq 2 ] || { echo "usage: $0 JOULE_TRAIN_BINARY SOURCE_DIR" >&2; exit 1; }
bin="$(realpath "$1")"
src="$(realpath "$2")"
sbatch_script="$src/scripts/slurm/joule.sbatch"
config="$src/examples/configs/fashion_mlp.pbtxt"
data=/usr/share/datasets/fashion-mnist

[ "$(uname -s)" = Linux ] || skip "not Linux"
[ "$(id -u)" -eq 0 ] || skip "needs root (runs its own slurmctld, slurmd and munged)"
for tool in munged munge slurmctld slurmd sbatch srun scontrol squeue scancel; do
  command -v "$tool" >/dev/null || skip "$tool not installed (Debian: slurm-wlm munge)"
done
[ -f "$data/train-images-idx3-ubyte.gz" ] || skip "no Fashion-MNIST at $data (dataset-fashion-mnist)"
[ -x "$bin" ] || { echo "FAIL: no joule-train at $bin" >&2; exit 1; }
[ -f "$sbatch_script" ] || { echo "FAIL: no $sbatch_script" >&2; exit 1; }

# The node as slurmd sees it (slurmd -C), without RealMemory: jobs ask for no memory.
node="$(hostname -s)"
hw="$(slurmd -C 2>/dev/null | head -n 1 | grep -o 'CPUs=.*ThreadsPerCore=[0-9]*' || true)"
[ -n "$hw" ] || hw="CPUs=$(nproc)"
cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")"
tpc="$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$hw")"
cores=$((cpus / ${tpc:-1}))
((cores >= 2)) || skip "needs 2 cores for 2 ranks of 1 core each (this node: $hw)"

# Nothing of a surrounding SLURM job (if ctest runs inside one) may leak into ours.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^SLURM_' || true)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

t0=$SECONDS
tmp="$(mktemp -d /tmp/joule-slurm-test.XXXXXX)"
chmod 755 "$tmp"  # munged wants every directory above its socket searchable by all
mkdir -p "$tmp"/{munge,state,spool,log,submit,affinity}
ok=0
log() { echo "[$((SECONDS - t0))s] $*"; }

dump_logs() {
  for f in "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.log "$tmp"/munge/munged.log; do
    [ -f "$f" ] && { echo "--- tail $f"; tail -n 30 "$f"; }
  done
  for f in "$tmp"/submit/*.out "$tmp"/home/*.out; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
  done
  return 0
}
stop_pid_file() {  # a daemon this test started, by the pid it wrote
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  set +e
  if [ -f "$tmp/slurmctld.pid" ]; then
    timeout 10 scancel --quiet --full --user=root 2>/dev/null
    for _ in $(seq 30); do [ -z "$(timeout 5 squeue -h -t R,CG,PD 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  stop_pid_file "$tmp/slurmd.pid"
  stop_pid_file "$tmp/slurmctld.pid"
  stop_pid_file "$tmp/munge/munged.pid"
  if [ "$ok" = 1 ] && [ "${JOULE_SLURM_TEST_KEEP:-0}" != 1 ]; then
    rm -rf "$tmp"
  else
    [ "$ok" = 1 ] || dump_logs
    echo "kept $tmp"
  fi
  log "done (exit $status)"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- the cluster ----------------------------------------------------------------------------------
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" \
  --seed-file="$tmp/munge/munged.seed" || fail "munged did not start"

# two free ports of our own below the ephemeral range, so that a system SLURM is not in the way
ports="$(python3 -c '
import random, socket
found = []
for port in random.sample(range(10000, 32000), 500):
    s = socket.socket()
    try:
        s.bind(("", port)); found.append(port)
    except OSError:
        pass
    s.close()
    if len(found) == 2: break
print(*found)' 2>/dev/null || echo "$((10000 + $$ % 20000)) $((10001 + $$ % 20000))")"
read -r port port2 <<<"$ports"
export SLURM_CONF="$tmp/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=joule-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$port2
MessageTimeout=5
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
KillWait=30
InactiveLimit=0
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
for _ in $(seq 50); do timeout 5 scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
timeout 5 scontrol ping 2>/dev/null | grep -q UP || fail "slurmctld is not up: $(tail -n 3 "$tmp/log/slurmctld.log")"
slurmd -f "$SLURM_CONF" -N "$node" || fail "slurmd did not start"
for _ in $(seq 100); do
  timeout 5 sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle && break
  sleep 0.2
done
timeout 5 sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle ||
  fail "the node did not come up: $(timeout 5 sinfo -N 2>&1; tail -n 3 "$tmp/log/slurmd.log")"
timeout 10 srun --mpi=list 2>&1 | grep -q pmix || skip "srun has no pmix plugin: $(timeout 10 srun --mpi=list 2>&1)"
log "cluster up: node $node ($hw), ports $port, $port2, $tmp"

# --- helpers ----------------------------------------------------------------------------------------
job_field() { timeout 10 scontrol show job "$1" 2>/dev/null | grep -o "\b$2=[^ ]*" | head -n 1 | cut -d= -f2-; }
wait_job_done() {  # JOBID TIMEOUT_S: until the job is no longer pending/running/completing
  local job="$1" limit="$2" start=$SECONDS state
  while :; do
    state="$(job_field "$job" JobState)"
    case "$state" in
      PENDING | RUNNING | CONFIGURING | COMPLETING | REQUEUED | SUSPENDED | "") ;;
      *) echo "$state"; return 0 ;;
    esac
    if ((SECONDS - start > limit)); then
      echo "job $job still $state after ${limit}s: $(job_field "$job" Reason)" >&2
      return 1
    fi
    sleep 0.5
  done
}
wait_for_training() {  # JOBID METRICS_FILE TIMEOUT_S: until a train line, while the job runs
  local start=$SECONDS state
  while ! { [ -s "$2" ] && grep -q '"kind": *"train"' "$2"; }; do
    state="$(job_field "$1" JobState)"
    case "$state" in PENDING | RUNNING | CONFIGURING | "") ;; *) echo "job $1 $state" >&2; return 1 ;; esac
    ((SECONDS - start <= $3)) || return 1
    sleep 0.2
  done
}
check_run_dir() {  # DIR RANKS
  local dir="$1" r
  [ -s "$dir/summary.json" ] || fail "no $dir/summary.json: $(ls "$dir" 2>&1)"
  for ((r = 0; r < $2; ++r)); do
    f="$(printf '%s/rank-%05d.jsonl' "$dir" "$r")"
    [ -s "$f" ] || fail "no $f"
  done
  grep -Eq "\"world_size\": *$2([^0-9]|$)" "$dir/summary.json" || fail "$dir/summary.json: world_size is not $2: $(cat "$dir/summary.json")"
}
submit() { timeout 30 sbatch --parsable "$@" | cut -d';' -f1; }

short=(--set train.max_steps=20 --set data.train_limit=2000 --set data.test_limit=500
       --set train.log_every_steps=5 --set run.cpu_math=eigen)

# A joule checkout of its own: the shipped sbatch script, the example config, and as
# build/bin/joule-train a wrapper that records each rank's CPU affinity, then runs the real binary.
home="$tmp/home"
mkdir -p "$home/scripts/slurm" "$home/examples/configs" "$home/build/bin"
cp "$sbatch_script" "$home/scripts/slurm/joule.sbatch"
cp "$config" "$home/examples/configs/fashion_mlp.pbtxt"
cat >"$home/build/bin/joule-train" <<EOF
#!/bin/bash
echo "\$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status) threads=\${OMP_NUM_THREADS:-}" \
  >"$tmp/affinity/\${SLURM_JOB_ID}-\${SLURM_RESTART_COUNT:-0}-rank\${SLURM_PROCID}"
exec "$bin" "\$@"
EOF
chmod +x "$home/build/bin/joule-train"

# cpus a rank was bound to -> "0" or "0,1"
expand_cpus() {
  local part parts
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done | sort -n | paste -sd,
}
check_disjoint() {  # label set0 set1: two ranks on different CPUs, neither on the whole node
  local all
  all="$(expand_cpus "0-$((cpus - 1))")"
  [ -n "$2" ] && [ -n "$3" ] || fail "$1: no affinity recorded ('$2', '$3')"
  [ "$2" != "$all" ] && [ "$3" != "$all" ] || fail "$1: a rank is not bound (rank 0: $2, rank 1: $3, node: $all)"
  local common
  common="$(comm -12 <(tr , '\n' <<<"$2" | sort) <(tr , '\n' <<<"$3" | sort))"
  [ -z "$common" ] || fail "$1: ranks share CPUs $common (rank 0: $2, rank 1: $3)"
}

# --- 1. the shipped sbatch script, 2 ranks bound apart ------------------------------------------
t=$SECONDS
cd "$tmp/submit"  # not the checkout: the script finds it through its own path (scontrol's Command=)
job="$(submit --ntasks-per-node=2 --cpus-per-task=1 --time=5 "$home/scripts/slurm/joule.sbatch" "${short[@]}")"
state="$(wait_job_done "$job" 90)" || fail "1: $(cat "$tmp/submit/joule-$job.out" 2>&1)"
exit_code="$(job_field "$job" ExitCode)"
[ "$state" = COMPLETED ] && [ "$exit_code" = 0:0 ] ||
  fail "1: job $job $state, ExitCode $exit_code: $(cat "$tmp/submit/joule-$job.out")"
check_run_dir "$tmp/submit/runs/slurm-$job" 2
a0="$(cat "$tmp/affinity/$job-0-rank0")"
a1="$(cat "$tmp/affinity/$job-0-rank1")"
check_disjoint "1" "$(expand_cpus "${a0%% *}")" "$(expand_cpus "${a1%% *}")"
log "1. sbatch joule.sbatch: job $job $state ExitCode $exit_code in $((SECONDS - t))s;" \
    "rank 0 on CPUs ${a0}, rank 1 on CPUs ${a1}; run dir runs/slurm-$job complete"

# 1b. --cpus-per-task reaches srun (Slurm >= 22.05 does not pass it on by itself): one rank with
# 2 CPUs gets both, and 2 threads. With 4 cores or more: 2 ranks of 2 CPUs each, bound apart.
t=$SECONDS
per_rank=2
ranks=$((cores >= 4 ? 2 : 1))
job="$(submit --ntasks-per-node="$ranks" --cpus-per-task="$per_rank" --time=5 "$home/scripts/slurm/joule.sbatch" "${short[@]}")"
state="$(wait_job_done "$job" 90)" || fail "1b: $(cat "$tmp/submit/joule-$job.out" 2>&1)"
[ "$state" = COMPLETED ] || fail "1b: job $job $state: $(cat "$tmp/submit/joule-$job.out")"
check_run_dir "$tmp/submit/runs/slurm-$job" "$ranks"
seen=""
for ((r = 0; r < ranks; ++r)); do
  a="$(cat "$tmp/affinity/$job-0-rank$r")"
  set_r="$(expand_cpus "${a%% *}")"
  [ "$(tr , '\n' <<<"$set_r" | wc -l)" = $((per_rank * ${tpc:-1})) ] && [ "${a##*threads=}" = "$per_rank" ] ||
    fail "1b: rank $r of --cpus-per-task=$per_rank is bound to CPUs $set_r with ${a##*threads=} threads"
  seen+=" rank $r on CPUs $a;"
done
((ranks == 1)) || check_disjoint "1b" "$(expand_cpus "$(cut -d' ' -f1 "$tmp/affinity/$job-0-rank0")")" \
  "$(expand_cpus "$(cut -d' ' -f1 "$tmp/affinity/$job-0-rank1")")"
log "1b. sbatch --ntasks-per-node=$ranks --cpus-per-task=$per_rank: job $job $state in $((SECONDS - t))s;$seen"

# --- 2. srun --mpi=pmix directly -----------------------------------------------------------------
t=$SECONDS
status=0
timeout 120 srun --mpi=pmix -n 2 -c 1 --cpu-bind=cores --time=5 "$bin" --config "$config" "${short[@]}" \
  --set run.threads=1 --set run.name=direct --output "$tmp/direct" >"$tmp/direct.log" 2>&1 || status=$?
((status == 0)) || fail "2: srun --mpi=pmix exit status $status: $(cat "$tmp/direct.log")"
check_run_dir "$tmp/direct/direct" 2
log "2. srun --mpi=pmix -n 2: exit status $status in $((SECONDS - t))s, run dir complete"

# --- 3. scancel of a running job: exit status 3 and a summary -----------------------------------
t=$SECONDS
cd "$tmp/submit"
job="$(JOULE_BIN="$bin" submit --time=5 "$sbatch_script" --set train.epochs=1000 \
  --set data.train_limit=2000 --set data.test_limit=500 --set train.log_every_steps=2 --set run.cpu_math=eigen)"
run="$tmp/submit/runs/slurm-$job"
wait_for_training "$job" "$run/metrics.jsonl" 90 || fail "3: job $job did not start training: $(cat "$tmp/submit/joule-$job.out" 2>&1)"
# the live ranks' threads, each bound to its own CPUs
pids=()
for pid in $(timeout 10 scontrol listpids "$job" 2>/dev/null | awk 'NR > 1 { print $1 }'); do
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = joule-train ] && pids+=("$pid")
done
((${#pids[@]} == 2)) || fail "3: ${#pids[@]} joule-train processes running, expected 2"
sets=()
threads_seen=()
for pid in "${pids[@]}"; do
  set_of_pid="$(for task in /proc/"$pid"/task/*; do sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$task/status"; done | sort -u)"
  [ "$(wc -l <<<"$set_of_pid")" = 1 ] || fail "3: threads of $pid on different CPU sets: $set_of_pid"
  sets+=("$(expand_cpus "$set_of_pid")")
  threads_seen+=("$(find /proc/"$pid"/task -mindepth 1 -maxdepth 1 | wc -l)")
done
check_disjoint "3" "${sets[0]}" "${sets[1]}"
timeout 10 scancel "$job"
state="$(wait_job_done "$job" 60)" || fail "3: job $job did not end after scancel"
exit_code="$(job_field "$job" ExitCode)"
[ "$exit_code" = 3:0 ] || fail "3: job $job $state ExitCode $exit_code, expected 3:0: $(cat "$tmp/submit/joule-$job.out")"
[ -s "$run/summary.json" ] || fail "3: no summary.json after scancel: $(cat "$tmp/submit/joule-$job.out")"
grep -q '"stop_reason": *"interrupted"' "$run/summary.json" || fail "3: summary: $(cat "$run/summary.json")"
log "3. scancel: job $job $state ExitCode $exit_code in $((SECONDS - t))s; live ranks' threads on" \
    "CPUs ${sets[0]} (${threads_seen[0]} threads) and ${sets[1]} (${threads_seen[1]} threads);" \
    "summary.json stop_reason interrupted"

# --- 4. requeue of a finished job: a fresh run directory, one .out with both runs -------------------
t=$SECONDS
cd "$home"
job="$(JOULE_HOME="$home" submit --time=5 "$sbatch_script" "${short[@]}")"
out="$home/joule-$job.out"
state="$(wait_job_done "$job" 90)" || fail "4: first run: $(cat "$out" 2>&1)"
[ "$state" = COMPLETED ] || fail "4: first run $state: $(cat "$out")"
timeout 10 scontrol requeue "$job" || fail "4: scontrol requeue $job"
for _ in $(seq 600); do [ "$(job_field "$job" Restarts)" -ge 1 ] 2>/dev/null && break; sleep 0.1; done
# a requeued job is eligible again only after its BeginTime (slurmctld holds it back a while). Not
# sooner than 2 s after the first run ended: slurmd revokes a finished job's credential with 1-s
# resolution, and a relaunch in that same second is killed ("Job credential revoked").
sleep 2
timeout 10 scontrol update JobId="$job" StartTime=now >/dev/null 2>&1 || true
state="$(wait_job_done "$job" 150)" || fail "4: requeued run: $(cat "$out" 2>&1)"
exit_code="$(job_field "$job" ExitCode)"
[ "$state" = COMPLETED ] && [ "$exit_code" = 0:0 ] || fail "4: requeued run $state ExitCode $exit_code: $(cat "$out")"
check_run_dir "$home/runs/slurm-$job" 2
check_run_dir "$home/runs/slurm-$job-requeue1" 2
grep -q "job $job (restart 0)" "$out" && grep -q "job $job (restart 1)" "$out" || fail "4: the .out lacks a run: $(cat "$out")"
[ "$(grep -c 'ranks ended with status 0' "$out")" = 2 ] || fail "4: the .out lacks a run's end: $(cat "$out")"
log "4. requeue: job $job ran twice (restart 0, 1) in $((SECONDS - t))s, ExitCode $exit_code;" \
    "runs/slurm-$job and runs/slurm-$job-requeue1 complete; the .out holds both"

# --- 5. srun without --mpi=pmix: joule's error, status 2; a batch script's own rank still runs ------
t=$SECONDS
status=0
timeout 120 srun -n 1 --time=5 "$bin" --config "$config" "${short[@]}" --output "$tmp/nopmix" >"$tmp/nopmix.log" 2>&1 || status=$?
((status == 2)) || fail "5: srun without --mpi=pmix: exit status $status, expected 2: $(cat "$tmp/nopmix.log")"
grep -q 'joule-train (rank 0): error: .*srun --mpi=pmix' "$tmp/nopmix.log" || fail "5: not joule's error: $(cat "$tmp/nopmix.log")"
[ ! -e "$tmp/nopmix" ] || fail "5: a run directory was created"
message="$(grep -m1 'joule-train (rank 0): error:' "$tmp/nopmix.log")"
cd "$tmp/submit"
job="$(submit -n 1 --time=5 -o "$tmp/submit/single-%j.out" --wrap \
  "$bin --config $config ${short[*]} --set run.threads=1 --set run.name=single --output $tmp/single")"
state="$(wait_job_done "$job" 60)" || fail "5: single rank in a batch script"
[ "$state" = COMPLETED ] || fail "5: joule-train alone in a batch script: $state: $(cat "$tmp/submit/single-$job.out")"
check_run_dir "$tmp/single/single" 1
log "5. srun without --mpi=pmix: exit status $status in $((SECONDS - t))s: $message;" \
    "joule-train alone in a batch script: $state"

ok=1
log "all SLURM checks passed"
