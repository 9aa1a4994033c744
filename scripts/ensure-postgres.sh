#!/usr/bin/env bash
# The PostgreSQL tests start a throwaway server of Debian's `postgresql` package (no service of
# the machine's is used or changed), and floe-admin backs PostgreSQL up with its pg_dump.
exec bash "$(dirname "$0")/ensure-apt-package.sh" postgresql "/usr/lib/postgresql/*/bin/initdb" "the database tests"
