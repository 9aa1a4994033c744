#!/usr/bin/env bash
# Make a Docker engine answer on this machine, or say exactly what the user must do.
# Idempotent: returns at once when `docker info` already works.
set -euo pipefail

data_dir="${FLOE_DATA_DIR:-$(pwd)/.floe}"
mkdir -p "$data_dir"
# What it did, for the setup step's line (scripts/step.sh).
outcome="${FLOE_STEP_OUTCOME:-/dev/null}"

if docker info >/dev/null 2>&1; then
  exit 0
fi

can_install=false
if [[ $(id -u) -eq 0 ]] && [[ -f /etc/debian_version ]]; then
  can_install=true
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! $can_install; then
    cat >&2 <<'MSG'
floe: no Docker engine answers and this script can only install one as root on Debian.
      Install Docker (https://docs.docker.com/engine/install/), start it, make sure
      `docker info` works for this user, then run the command again.
MSG
    exit 1
  fi
  echo "floe: installing the Docker engine (apt-get install docker.io)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q docker.io >/dev/null
  echo "installed docker.io" >>"$outcome"
fi

if ! $can_install; then
  echo "floe: dockerd is installed but not running; start it (e.g. 'sudo systemctl start docker')." >&2
  exit 1
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "floe: starting dockerd (log: $data_dir/dockerd.log)..."
  setsid dockerd >>"$data_dir/dockerd.log" 2>&1 </dev/null &
  echo "started dockerd" >>"$outcome"
fi

for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "floe: dockerd did not answer within 60 s; see $data_dir/dockerd.log" >&2
tail -n 20 "$data_dir/dockerd.log" >&2 || true
exit 1
