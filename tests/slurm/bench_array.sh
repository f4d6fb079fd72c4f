#!/usr/bin/env bash
# Wall time of a 4-task Slurm array (contrib/slurm/trajectories.sbatch + merge.sbatch with afterok) against one
# process doing the same work, alternated in one sitting on a one-node cluster of its own (cluster.sh).
#   tests/slurm/bench_array.sh SEGAGENT_BINARY DATA_DIR [ROUNDS] [TRAJECTORIES OPTIONS...]
# e.g. tests/slurm/bench_array.sh build/segagent ../shared/data 2 --max-clicks 20
# Prints one line per run and the medians; the merged file is checked against the single-process one.
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
data=$(cd "$2" && pwd)
rounds=${3:-2}
shift 3 || shift $#
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/segagent-bench.XXXXXX")
trap 'bash "$here/cluster.sh" stop "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash "$here/cluster.sh" start "$work/cluster" >/dev/null
export SLURM_CONF="$work/cluster/slurm.conf" SEGAGENT="$bin"
export SEGAGENT_DATASETS="GrabCut=$data/GrabCut" SEGAGENT_ARGS="$*"
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
wait_done() { while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do sleep 0.2; done; }
norm() { sed 's/"date":"[^"]*"/"date":""/' "$1"; }
declare -A times
for r in $(seq "$rounds"); do
  for mode in one-jobs1 one-jobs2 array4; do
    out="$work/$mode-$r/g.json"
    mkdir -p "$(dirname "$out")"
    t0=$(now)
    case $mode in
      one-jobs1 | one-jobs2)
        # shellcheck disable=SC2086
        "$bin" trajectories --dataset "$SEGAGENT_DATASETS" --out "$out" --quiet --jobs "${mode#one-jobs}" \
          $SEGAGENT_ARGS 2>/dev/null ;;
      array4)
        export SEGAGENT_OUT="$out"
        jid=$(sbatch --parsable --array=0-3 --chdir="$(dirname "$out")" "$root/contrib/slurm/trajectories.sbatch")
        mid=$(sbatch --parsable --dependency="afterok:$jid" --chdir="$(dirname "$out")" \
          "$root/contrib/slurm/merge.sbatch")
        wait_done "$mid" ;;
    esac
    t1=$(now)
    cmp -s <(norm "$out") <(norm "$work/one-jobs1-1/g.json") || { echo "bench: $out differs" >&2; exit 1; }
    times[$mode]+="$(el "$t0" "$t1") "
    echo "round $r $mode: $(el "$t0" "$t1")s wall"
  done
done
for mode in one-jobs1 one-jobs2 array4; do
  echo "$mode: median $(tr ' ' '\n' <<<"${times[$mode]}" | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')s of ${times[$mode]}"
done
