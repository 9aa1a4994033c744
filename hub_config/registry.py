"""Floe's own image registry, so that every machine of a cluster can pull what Floe builds.

Nothing public is pulled from: the images Floe builds (workspace, stock and made
environments) exist on the machine that built them. With ``FLOE_REGISTRY=HOST:PORT`` the hub
runs Debian's ``docker-registry`` (the distribution registry) as a managed service, storing
in ``<data dir>/registry``, listening on ``FLOE_REGISTRY_BIND`` (default: every address, at
the port of ``FLOE_REGISTRY``), and Floe pushes each image it builds there as
``HOST:PORT/<name>:<tag>``; machines pull it by that name. A machine other than the
registry's own trusts it as an insecure registry, or the deployer puts TLS in front
(``docs/deploy.md``).

``python -m hub_config.registry CONFIG`` writes nothing and runs the registry with CONFIG;
:func:`write_config` makes that file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import docker

BINARY = "docker-registry"


def write_config(path: Path, storage: Path, listen: str) -> Path:
    """The registry's configuration: blobs under ``storage``, HTTP on ``listen``
    (``ADDR:PORT``), deleting allowed (old environments are removed), no telemetry."""
    storage.mkdir(parents=True, exist_ok=True)
    os.chmod(storage, 0o700)
    path.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {listen}\n  secret: {secrets.token_hex(16)}\n"
    )
    return path


def registry_binary() -> str:
    found = shutil.which(BINARY) or shutil.which(BINARY, path="/usr/bin:/usr/sbin")
    if not found:
        raise SystemExit(
            "floe: FLOE_REGISTRY needs Debian's docker-registry package "
            "(scripts/ensure-registry.sh installs it)"
        )
    return found


def pushed_name(image: str, registry: str) -> str:
    """What ``image`` (``name:tag``) is called in ``registry`` (``HOST:PORT``)."""
    return f"{registry}/{image}"


def push(image: str, registry: str, client: docker.DockerClient | None = None) -> str:
    """Tag ``image`` into ``registry`` and push it there; the name machines pull it by."""
    client = client or docker.from_env()
    target = pushed_name(image, registry)
    repository, _, tag = target.rpartition(":")
    client.images.get(image).tag(repository, tag)
    for line in client.api.push(repository, tag=tag, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(f"pushing {image} to {registry}: {line['error']}")
    return target


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m hub_config.registry CONFIG")
    binary = registry_binary()
    os.execv(binary, [binary, "serve", args[0]])


if __name__ == "__main__":
    main()
