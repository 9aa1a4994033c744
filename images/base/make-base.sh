#!/usr/bin/env bash
# Build a Debian bookworm base image without a registry: debootstrap -> docker import.
# Usage: make-base.sh IMAGE_TAG STRIP_SCRIPT LABEL (the script: environments/strip_privileges.py,
# run on the tree last; the label: KEY=VALUE, the recipe's hash).
# Used only when the configured BASE_IMAGE can neither be found locally nor pulled.
set -euo pipefail
tag="$1"
strip="$2"
label="$3"

if [[ $(id -u) -ne 0 ]]; then
  echo "floe: building the base image needs root (debootstrap); or set FLOE_BASE_IMAGE to an image you can pull." >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "floe: installing debootstrap..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
fi

# Use the mirror this machine's apt already trusts, so no other address is needed.
mirror=$(grep -h -o -E '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
if [[ -z $mirror ]]; then
  mirror=$(grep -h -E '^deb\s' /etc/apt/sources.list 2>/dev/null | grep -v security | awk '{print $2}' | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d /var/tmp/floe-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "floe: debootstrap bookworm from $mirror (about a minute)..."
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,tini,git,ca-certificates \
  bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
python3 "$strip" "$rootfs" >/dev/null  # no setuid/setgid bit or file capability in the image
echo "floe: importing $tag..."
tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' --change "LABEL $label" - "$tag" >/dev/null
