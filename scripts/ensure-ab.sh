#!/usr/bin/env bash
# The serving benchmark loads endpoints with ApacheBench (`ab`, Debian's apache2-utils).
set -euo pipefail
if command -v ab >/dev/null; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && [[ -f /etc/debian_version ]]; then
  echo "floe: installing ApacheBench for the serving benchmark (apt-get install apache2-utils)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q apache2-utils >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q apache2-utils >/dev/null; }
  exit 0
fi
echo "floe: the serving benchmark needs ab; install Debian's 'apache2-utils' package." >&2
exit 1
