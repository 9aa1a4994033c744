#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; never let a tool download a browser of its own.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && [[ -f /etc/debian_version ]]; then
  echo "floe: installing chromium for the browser tests (apt-get install chromium)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  exit 0
fi
echo "floe: the browser tests need /usr/bin/chromium; install Debian's 'chromium' package." >&2
exit 1
