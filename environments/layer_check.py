"""What a build's container leaves, read on this machine from its overlay2 layers.

The in-image strip (``strip_privileges.py``) runs inside the image being built, with its
Python, after code from pip ran there as root: such code could defeat it. So before a build
is committed, the filesystem it would become (the container's own layer over its image's,
as overlayfs merges them) is read here, by the service, and any setuid/setgid file or file
capability in it fails the build. Engines on another storage driver, or elsewhere, are not
read (the strip alone stands; ``docs/deploy.md`` says so).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

import docker

CAPABILITY = "security.capability"
# What a rootful engine's overlay reads (user.overlay.* only counts on a rootless one, and
# a build may set user.* attributes itself: they hide nothing here).
OPAQUE = "trusted.overlay.opaque"
PRIVILEGE_BITS = stat.S_ISUID | stat.S_ISGID


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
            return None
        raise


def _entries(layer: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """(path in the image, path here, lstat) of every entry of one layer, parents first."""
    folders = [("", layer)]
    while folders:
        rel, here = folders.pop()
        with os.scandir(here) as found:
            for entry in found:
                info = entry.stat(follow_symlinks=False)
                path = f"{rel}/{entry.name}"
                yield path, entry.path, info
                if stat.S_ISDIR(info.st_mode):
                    folders.append((path, entry.path))


def _hidden(path: str, blocked: set[str]) -> bool:
    """Whether a higher layer's whiteout or opaque folder hides ``path``."""
    while path:
        if path in blocked:
            return True
        path = path.rpartition("/")[0]
    return False


def privileged_files(layers: list[str], most: int = 20) -> list[str]:
    """The files of the merged view of ``layers`` (the top one first) that are setuid,
    setgid or carry file capabilities, as paths in the image; at most ``most``."""
    seen: dict[str, bool] = {}  # path -> whether the visible entry is a folder
    blocked: set[str] = set()
    found: list[str] = []
    for layer in layers:
        opaque: set[str] = set()
        for path, here, info in _entries(layer):
            if _hidden(path.rpartition("/")[0], blocked) or path in blocked:
                continue
            folder = stat.S_ISDIR(info.st_mode)
            whiteout = stat.S_ISCHR(info.st_mode) and info.st_rdev == 0
            if path in seen:
                if not seen[path]:  # a file above this folder hides all of it
                    blocked.add(path)
                elif not folder or whiteout or _xattr(here, OPAQUE) == b"y":
                    opaque.add(path)  # a folder above; this still hides what lies below
                continue  # a higher layer's entry is what shows (folders merge below it)
            seen[path] = folder
            if whiteout:
                blocked.add(path)  # a whiteout: this path is deleted from here down
                continue
            if folder:
                if _xattr(here, OPAQUE) == b"y":
                    opaque.add(path)
                continue
            privileged = info.st_mode & PRIVILEGE_BITS and stat.S_ISREG(info.st_mode)
            if privileged or (stat.S_ISREG(info.st_mode) and _xattr(here, CAPABILITY)):
                found.append(path)
                if len(found) >= most:
                    return found
        blocked |= opaque  # what lower layers hold below an opaque folder is hidden
    return found


def layers_of(api: docker.APIClient, container: str) -> list[str] | None:
    """The container's overlay2 layers on this machine, its own first; None where the
    engine keeps them otherwise (another driver, or another machine)."""
    driver = api.inspect_container(container).get("GraphDriver") or {}
    data = driver.get("Data") or {}
    if driver.get("Name") != "overlay2" or not data.get("UpperDir"):
        return None
    layers = [data["UpperDir"], *filter(None, (data.get("LowerDir") or "").split(":"))]
    return layers if all(os.path.isdir(layer) for layer in layers) else None
