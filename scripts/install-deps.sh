#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages segagent builds and tests with. Safe to run twice.
#   --browser  also Debian's chromium (and nodejs when no node is on the PATH) for the web-page test
#              (tests/test_server_web.c; node must be 20.10 or newer for its WebSocket)
#   --slurm    also Debian's slurm-wlm and munge, for the one-node cluster of tests/slurm/cluster.sh
#              (tests/test_slurm.c); no service is started here: the test script starts its own daemons
set -euo pipefail
pkgs=(build-essential pkg-config libpng-dev libjpeg-dev zlib1g-dev libcjson-dev
      libcurl4-openssl-dev libopenblas-dev libmicrohttpd-dev python3 clang-format)
for arg in "$@"; do
  case "$arg" in
    --browser)
      pkgs+=(chromium)
      command -v node >/dev/null 2>&1 || pkgs+=(nodejs) ;;
    --slurm) pkgs+=(slurm-wlm munge) ;;
    *) echo "install-deps: unknown option $arg (expected --browser, --slurm)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
