#!/usr/bin/env bash
# Sharded runs on a real Slurm cluster (run by tests/test_slurm.c; docs/cluster.md):
#   1. an `sbatch --array=0-3` trajectories job (contrib/slurm/trajectories.sbatch) and a merge job with
#      --dependency=afterok (contrib/slurm/merge.sbatch) give the file one process writes;
#   2. a task cancelled part-way (scancel JOB_TASK), then requeued (scontrol requeue): it resumes its part,
#      the merge (resubmitted: a cancelled task makes afterok unsatisfiable) gives the same file;
#   3. a running task requeued the way preemption does it (scontrol requeue JOB_TASK): the merge job already
#      waiting on afterok runs by itself once the task has finished again; the same file;
#   4. an agent benchmark
#      array against the loopback policy server, merged, gives one process's summary.
#
#   tests/slurm/test_slurm.sh SEGAGENT_BINARY DATA_DIR
#
# SEGAGENT_SLURM=1 starts a one-node cluster of its own (tests/slurm/cluster.sh) and stops it at the end, pass
# or fail; SEGAGENT_SLURM=/path/slurm.conf uses a running cluster instead. Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
data=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
LIMIT=${SEGAGENT_SLURM_LIMIT:-24} # GrabCut items: shards of 2..10 items at 24

work=$(mktemp -d "${TMPDIR:-/tmp}/segagent-slurm.XXXXXX")
own_cluster=0
server="" # the policy server of part 4
cleanup() {
  local rc=$?
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  if [ "$own_cluster" = 1 ]; then bash "$here/cluster.sh" stop "$work/cluster" || rc=1; fi
  if [ "$rc" = 0 ]; then rm -rf "$work"; else echo "test_slurm: files kept in $work"; fi
  exit "$rc"
}
trap cleanup EXIT
fail() {
  echo "test_slurm: FAIL: $*" >&2
  exit 1
}

case "${SEGAGENT_SLURM:-}" in
  "" | 0) echo "test_slurm: skipped: SEGAGENT_SLURM is not set"; exit 77 ;;
  1)
    bash "$here/cluster.sh" start "$work/cluster" >/dev/null || fail "the cluster did not start"
    own_cluster=1
    export SLURM_CONF="$work/cluster/slurm.conf" ;;
  *) export SLURM_CONF="$SEGAGENT_SLURM" ;;
esac
echo "test_slurm: cluster $SLURM_CONF: $(sinfo -h -N -o '%N %T %c CPUs' | head -n1)"

# state of every record of a job (an array gives one line per task): "COMPLETED COMPLETED ..."
job_states() {
  scontrol -o show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | tr '\n' ' '
}
# waits until no record of job $1 is pending or running (timeout $2 s)
wait_job() {
  local id=$1 t=${2:-300} s
  for _ in $(seq $((t * 2))); do
    s=$(job_states "$id")
    case " $s " in *" PENDING "* | *" RUNNING "* | *" CONFIGURING "* | *" COMPLETING "* | *" REQUEUED "* | "  ") ;;
      *) echo "$s"; return 0 ;;
    esac
    sleep 0.5
  done
  fail "job $id still not done after ${t}s: $s"
}
# the file without its info.date, the one field that differs between two runs of the same command
normalised() { sed 's/"date":"[^"]*"/"date":""/' "$1"; }
same_as_ref() {
  [ -s "$1" ] || fail "$1 was not written"
  cmp -s <(normalised "$ref") <(normalised "$1") || fail "$1 differs from the single-process file $ref"
}
records() { grep -c '^{"i":' "$1" || true; }
has_end() { tail -n1 "$1" | grep -q '^{"end":true'; }

export SEGAGENT="$bin"
export SEGAGENT_DATASETS="GrabCut=$data/GrabCut"
export SEGAGENT_ARGS="--limit $LIMIT --max-clicks 10"

# ---- the single-process reference ----
ref="$work/ref.json"
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$bin" trajectories --dataset "$SEGAGENT_DATASETS" --out "$ref" --quiet --jobs 1 $SEGAGENT_ARGS 2>"$work/ref.log" ||
  fail "the single-process run failed"
t1=$(date +%s.%N)
echo "test_slurm: one process: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s wall"

# ---- 1. array + dependent merge job ----
mkdir -p "$work/a"
export SEGAGENT_OUT="$work/a/g.json"
t0=$(date +%s.%N)
jid=$(sbatch --parsable --array=0-3 --chdir="$work/a" "$root/contrib/slurm/trajectories.sbatch")
mid=$(sbatch --parsable --dependency="afterok:$jid" --chdir="$work/a" "$root/contrib/slurm/merge.sbatch")
s=$(wait_job "$jid")
[ "$s" = "COMPLETED COMPLETED COMPLETED COMPLETED " ] || fail "array $jid ended as: $s"
s=$(wait_job "$mid" 60)
t1=$(date +%s.%N)
[ "$s" = "COMPLETED " ] || fail "merge job $mid ended as: $s ($(cat "$work/a/segagent-merge-$mid.log"))"
echo "test_slurm: 4-task array + merge job: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s wall"
same_as_ref "$work/a/g.json"
grep -q "from Slurm array" "$work/a/segagent-traj-${jid}_3.log" || fail "task 3 did not take its shard from the array"
# the task with the most items is the one to interrupt below
big=0 most=0
for t in 0 1 2 3; do
  n=$(records "$work/a/g.shard-000$t-of-0004.jsonl")
  if [ "$n" -gt "$most" ]; then big=$t most=$n; fi
done
[ "$most" -ge 4 ] || fail "no shard has 4 items or more (largest: $most); raise SEGAGENT_SLURM_LIMIT"
echo "test_slurm: 1. array of 4 + afterok merge: identical to one process (largest shard: $big, $most items)"

# waits until part $1 holds at least $2 records and no end record, for the task to be interrupted part-way
wait_records() {
  for _ in $(seq 600); do
    if [ -f "$1" ] && [ "$(records "$1")" -ge "$2" ]; then
      has_end "$1" && fail "$1 finished before it could be interrupted"
      return 0
    fi
    sleep 0.05
  done
  fail "$1 never got $2 records"
}
# the part of an interrupted task: some records, no end record
check_partway() {
  local n
  n=$(records "$1")
  has_end "$1" && fail "$1 has its end record: the task was not interrupted part-way"
  if [ "$n" -lt 2 ] || [ "$n" -ge "$most" ]; then fail "$1 holds $n of $most records after the interruption"; fi
  echo "$n"
}

# ---- 2. scancel one task part-way, requeue it, merge ----
mkdir -p "$work/b"
export SEGAGENT_OUT="$work/b/g.json"
part="$work/b/g.shard-000$big-of-0004.jsonl"
jid=$(sbatch --parsable --array=0-3 --chdir="$work/b" "$root/contrib/slurm/trajectories.sbatch")
wait_records "$part" 2
scancel "${jid}_$big"
s=$(wait_job "${jid}_$big" 60)
[ "$s" = "CANCELLED " ] || fail "task ${jid}_$big ended as $s after scancel"
kept=$(check_partway "$part")
scontrol requeue "${jid}_$big" || fail "scontrol requeue ${jid}_$big failed"
scontrol update JobId="${jid}_$big" StartTime=now >/dev/null # a requeued job otherwise waits ~2 minutes
s=$(wait_job "$jid")
[ "$s" = "COMPLETED COMPLETED COMPLETED COMPLETED " ] || fail "array $jid ended as: $s after the requeue"
grep -q "$kept resumed" "$work/b/segagent-traj-${jid}_$big.log" ||
  fail "task ${jid}_$big did not resume its $kept records: $(cat "$work/b/segagent-traj-${jid}_$big.log")"
[ "$(records "$part")" = "$most" ] || fail "$part holds $(records "$part") records, not $most"
# Slurm remembers the cancelled task: afterok on the whole array can no longer be satisfied, so the merge
# depends on the tasks one by one (docs/cluster.md)
mid=$(sbatch --parsable --dependency="afterok:${jid}_0:${jid}_1:${jid}_2:${jid}_3" --chdir="$work/b" \
  "$root/contrib/slurm/merge.sbatch")
s=$(wait_job "$mid" 60)
[ "$s" = "COMPLETED " ] || fail "merge job $mid ended as: $s ($(cat "$work/b/segagent-merge-$mid.log"))"
same_as_ref "$work/b/g.json"
echo "test_slurm: 2. scancel of task $big after $kept of $most items, scontrol requeue: resumed, merged output identical"

# ---- 3. requeue of a running task (preemption), the waiting afterok merge job runs by itself ----
mkdir -p "$work/c"
export SEGAGENT_OUT="$work/c/g.json"
part="$work/c/g.shard-000$big-of-0004.jsonl"
jid=$(sbatch --parsable --array=0-3 --chdir="$work/c" "$root/contrib/slurm/trajectories.sbatch")
mid=$(sbatch --parsable --dependency="afterok:$jid" --chdir="$work/c" "$root/contrib/slurm/merge.sbatch")
wait_records "$part" 2
scontrol requeue "${jid}_$big" || fail "scontrol requeue ${jid}_$big failed"
for _ in $(seq 100); do
  case "$(job_states "${jid}_$big")" in PENDING*) break ;; esac
  sleep 0.1
done
kept=$(check_partway "$part")
scontrol update JobId="${jid}_$big" StartTime=now >/dev/null
s=$(wait_job "$mid")
[ "$s" = "COMPLETED " ] || fail "merge job $mid ended as: $s ($(cat "$work/c/segagent-merge-$mid.log" 2>/dev/null))"
grep -q "resumed" "$work/c/segagent-traj-${jid}_$big.log" || fail "task ${jid}_$big did not resume"
same_as_ref "$work/c/g.json"
echo "test_slurm: 3. scontrol requeue of running task $big after $kept of $most items: afterok merge ran, output identical"

# ---- 4. agent benchmark array against the loopback policy server ----
mkdir -p "$work/d"
python3 "$root/tests/policy_server.py" --port 0 >"$work/d/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/d/server.out" && break; sleep 0.1; done
port=$(sed -n 's/^PORT //p' "$work/d/server.out")
[ -n "$port" ] || fail "the policy server did not start"
export SEGAGENT_POLICY="http://127.0.0.1:$port/v1"
export SEGAGENT_DATASETS="scenes"
export SEGAGENT_ARGS="--model fixed --max-clicks 2"
# shellcheck disable=SC2086
"$bin" eval --dataset scenes --policy "$SEGAGENT_POLICY" $SEGAGENT_ARGS --quiet --json "$work/d/ref.json" \
  >"$work/d/ref.txt" || fail "the single-process benchmark failed"
export SEGAGENT_OUT="$work/d/bench.json"
jid=$(sbatch --parsable --array=0-3 --chdir="$work/d" "$root/contrib/slurm/agent-benchmark.sbatch")
mid=$(sbatch --parsable --dependency="afterok:$jid" --chdir="$work/d" "$root/contrib/slurm/merge.sbatch")
s=$(wait_job "$jid")
[ "$s" = "COMPLETED COMPLETED COMPLETED COMPLETED " ] ||
  fail "benchmark array $jid ended as: $s; task 0: $(tail -n 3 "$work/d/segagent-bench-${jid}_0.log")"
s=$(wait_job "$mid" 60)
[ "$s" = "COMPLETED " ] || fail "merge job $mid ended as: $s ($(cat "$work/d/segagent-merge-$mid.log"))"
python3 - "$work/d/ref.json" "$work/d/bench.json" <<'PY' || fail "the merged benchmark differs from one process's"
# the whole eval JSON (docs/metrics.md), summaries recomputed by the merge, without wall-clock fields
import json, sys
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items()
                if not (k == "ms" or k.startswith("ms_") or k.endswith("_ms") or "date" in k or "time" in k or "elapsed" in k)}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
if a != b:
    sys.exit("merged %s differs from %s" % (sys.argv[2], sys.argv[1]))
PY
echo "test_slurm: 4. agent-benchmark array of 4 + merge: the same summary as one process"
