#!/usr/bin/env bash
# Floe's own image registry (FLOE_REGISTRY, hub_config/registry.py) is Debian's
# `docker-registry` package, the distribution registry; the tests start one of their own.
# Only the binary is used: no service of the machine's is started or changed.
exec bash "$(dirname "$0")/ensure-apt-package.sh" docker-registry /usr/bin/docker-registry "Floe's image registry"
