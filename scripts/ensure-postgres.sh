#!/usr/bin/env bash
# The PostgreSQL tests start a throwaway server of Debian's `postgresql` package (no service of
# the machine's is used or changed): install the package when it is missing.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && [[ -f /etc/debian_version ]]; then
  echo "floe: installing postgresql for the database tests (apt-get install postgresql)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
  exit 0
fi
echo "floe: the database tests need PostgreSQL's programs; install Debian's 'postgresql' package." >&2
exit 1
