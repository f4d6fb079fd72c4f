#!/usr/bin/env bash
# A one-node Slurm cluster of its own, for the tests (tests/test_slurm.c) and for trying the job files in
# contrib/slurm/ on one machine. Everything lives under one folder: slurm.conf with ports of its own, the state
# and spool folders, the logs, a munge key and socket. Nothing in /etc is read or changed.
#
#   tests/slurm/cluster.sh start DIR   # DIR must not exist or be empty; prints the SLURM_CONF line to export
#   export SLURM_CONF=DIR/slurm.conf   # then sbatch, squeue, scancel, scontrol talk to this cluster
#   tests/slurm/cluster.sh stop DIR    # stops exactly the daemons it started (pids in DIR/pids)
#   tests/slurm/cluster.sh status DIR  # exit 0 when all three daemons are alive and the node takes jobs
#
# The daemons are munged, slurmctld and slurmd, run in the foreground (-F / -D) under setsid so that their pids
# are known; stop signals those pids only (after checking each is still that daemon), never by name. They run
# as the current user (root in CI; as another user, jobs can only run as that user, which is all the tests
# need). ProctrackType=proctrack/linuxproc and TaskPlugin=task/none need no cgroups; the node's CPUs and memory
# are what `slurmd -C` reports.
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pid name: 1 when pid is alive and its command is that daemon
is_ours() {
  local pid=$1 name=$2
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$name"
}

write_conf() {
  local dir=$1 user node ctld_port slurmd_port cpus mem hw
  user=$(id -un)
  node=$(hostname -s)
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
  hw=$(slurmd -C | head -n1)
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  if [ -z "$cpus" ] || [ -z "$mem" ]; then die "cannot read CPUs/RealMemory from: slurmd -C -> $hw"; fi
  mem=$((mem * 9 / 10)) # leave the system some room; slurmd refuses a node with less than configured
  cat >"$dir/slurm.conf" <<CONF
# Written by tests/slurm/cluster.sh: a one-node cluster under $dir
ClusterName=segagent-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MaxArraySize=1001
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

start_munge() {
  local dir=$1
  mkdir -p "$dir/munge"
  chmod 700 "$dir/munge"
  if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --keyfile="$dir/munge/munge.key" --force >/dev/null
  else
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  fi
  chmod 400 "$dir/munge/munge.key"
  # --force: the folder sits below /tmp (world-writable, sticky), which munged otherwise refuses
  setsid munged -F --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/munged.out" 2>&1 &
  echo "munged $!" >>"$dir/pids"
  for _ in $(seq 50); do
    [ -S "$dir/munge/munge.socket" ] && return 0
    sleep 0.1
  done
  die "munged did not start; see $dir/log/munged.log"
}

wait_node() {
  local dir=$1 state=""
  for _ in $(seq 120); do
    state=$(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o %T 2>/dev/null | head -n1 || true)
    case "$state" in idle | mixed | allocated) return 0 ;; esac
    sleep 0.5
  done
  echo "cluster.sh: node not ready (state '${state:-none}'); last log lines:" >&2
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
  return 1
}

start() {
  local dir=${1:?usage: cluster.sh start DIR}
  for b in munged slurmctld slurmd sbatch sinfo; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found: install slurm-wlm and munge (scripts/install-deps.sh --slurm)"
  done
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  : >"$dir/pids"
  write_conf "$dir"
  # On any failure below (die exits), stop what was already started.
  trap 'stop "$dir" >/dev/null 2>&1 || true' EXIT
  start_munge "$dir"
  export SLURM_CONF="$dir/slurm.conf"
  setsid slurmctld -D -i -f "$SLURM_CONF" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
  echo "slurmctld $!" >>"$dir/pids"
  setsid slurmd -D -f "$SLURM_CONF" -N "$(hostname -s)" </dev/null >>"$dir/log/slurmd.out" 2>&1 &
  echo "slurmd $!" >>"$dir/pids"
  wait_node "$dir" || exit 1
  trap - EXIT
  echo "export SLURM_CONF=$dir/slurm.conf"
}

stop() {
  local dir=${1:?usage: cluster.sh stop DIR} name pid
  [ -f "$dir/pids" ] || die "$dir/pids not found: no cluster started there"
  # slurmd first (it kills its jobs' steps), then the controller, then munge
  for name in slurmd slurmctld munged; do
    while read -r n pid; do
      [ "$n" = "$name" ] || continue
      if is_ours "$pid" "$name"; then kill -TERM "$pid" 2>/dev/null || true; fi
      for _ in $(seq 50); do
        is_ours "$pid" "$name" || break
        sleep 0.1
      done
      if is_ours "$pid" "$name"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done <"$dir/pids"
  done
  : >"$dir/pids.stopped"
}

status() {
  local dir=${1:?usage: cluster.sh status DIR} n pid
  [ -f "$dir/pids" ] || return 1
  while read -r n pid; do
    is_ours "$pid" "$n" || { echo "cluster.sh: $n ($pid) is not running" >&2; return 1; }
  done <"$dir/pids"
  SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o '%N %T'
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  status) status "${2:-}" ;;
  *) echo "usage: $0 start|stop|status DIR" >&2; exit 2 ;;
esac
