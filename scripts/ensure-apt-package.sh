#!/usr/bin/env bash
# ensure-apt-package.sh PACKAGE GLOB WHY: install Debian's PACKAGE unless a file matching GLOB
# exists (as root on Debian; otherwise say what to install). Idempotent.
set -euo pipefail
package=$1 glob=$2 why=$3
if compgen -G "$glob" >/dev/null; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && [[ -f /etc/debian_version ]]; then
  echo "floe: installing $package for $why (apt-get install $package)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$package" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$package" >/dev/null; }
  echo "installed $package" >>"${FLOE_STEP_OUTCOME:-/dev/null}"  # the setup step's line (step.sh)
  exit 0
fi
echo "floe: $why need(s) $glob; install Debian's '$package' package." >&2
exit 1
