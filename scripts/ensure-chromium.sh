#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; never let a tool download a browser of its own.
exec bash "$(dirname "$0")/ensure-apt-package.sh" chromium /usr/bin/chromium "the browser tests"
