"""Floe's own image registry, so that every machine of a cluster can pull what Floe builds.

Nothing public is pulled from: the images Floe builds (workspace, stock and made
environments) exist on the machine that built them. With ``FLOE_REGISTRY=HOST:PORT`` the hub
runs Debian's ``docker-registry`` (the distribution registry) as a managed service, storing
in ``<data dir>/registry``, listening on ``FLOE_REGISTRY_BIND`` (default: every address, at
the port of ``FLOE_REGISTRY``), and Floe pushes each image it builds there as
``HOST:PORT/<name>:<tag>``; machines pull it by that name. A machine other than the
registry's own trusts it as an insecure registry, or the deployer puts TLS in front
(``docs/deploy.md``).

:func:`write_config` makes its configuration; the hub runs ``docker-registry serve CONFIG``.
Pushing is ``environments.image_registry`` (jobs on a swarm push theirs too).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import bcrypt

from environments.image_registry import USER

from .settings import secret_file

BINARY = "docker-registry"


PASSWORD_FILE = "registry_password"  # in the data dir


def registry_password(data_dir: Path) -> str:
    """The registry's password (random, made once, kept in the data dir, mode 0600)."""
    return secret_file(data_dir / PASSWORD_FILE)[0]


def write_config(path: Path, storage: Path, listen: str, password: str) -> Path:
    """The registry's configuration: blobs under ``storage``, HTTP on ``listen``
    (``ADDR:PORT``), every request authenticated as :data:`USER` with ``password`` (whoever
    could push could replace the workspace image), deleting allowed, no access log."""
    storage.mkdir(parents=True, exist_ok=True)
    os.chmod(storage, 0o700)
    htpasswd = path.with_name(f"{path.stem}.htpasswd")
    htpasswd.touch(mode=0o600)
    # bcrypt is what the registry reads; the cheapest cost: the password is 256 random
    # bits, and the registry checks it at every request of a push or pull.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    path.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {listen}\n  secret: {secrets.token_hex(16)}\n"
        f"auth:\n  htpasswd:\n    realm: floe\n    path: {htpasswd}\n"
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
