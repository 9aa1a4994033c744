"""Mount specs (``[owner/]name[:version][:/mount/point]``) checked and turned into binds.

Mount points must be absolute, normalised, strictly under an allowed root (``/input`` by
default) and used once; a dataset must exist and be readable by the user.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from floe.errors import BadMount, BadName

from .datasets import Caller, DatasetRef, load_tree, parse_ref, resolve
from .db import Version
from .materialize import materialize, tree_dir
from .stores import BlobStore


@dataclass(frozen=True)
class MountRequest:
    ref: DatasetRef
    target: str


@dataclass(frozen=True)
class ResolvedMount:
    """A dataset version ready to bind read-only at ``target``."""

    source: Path
    target: str
    dataset: str
    version: int


def check_mount_point(target: str, roots: list[str]) -> str:
    if not target.startswith("/"):
        raise BadMount(f"mount point {target!r} must be an absolute path like /input/data")
    if posixpath.normpath(target) != target or "//" in target:
        raise BadMount(
            f"mount point {target!r} is not normalised; write it as {posixpath.normpath(target)!r}"
        )
    for root in roots:
        if target.startswith(root.rstrip("/") + "/"):
            return target
    raise BadMount(
        f"mount point {target!r} must be inside {' or '.join(roots)}, e.g. {roots[0]}/data"
    )


def parse_mount_spec(text: str, default_owner: str, roots: list[str]) -> MountRequest:
    """``mnist``, ``mnist:2``, ``bob/cats:1:/input/pets`` or ``mnist:/input/digits``."""
    if not isinstance(text, str) or not text.strip():
        raise BadName(
            "each dataset is a string like 'mnist', 'mnist:2' or 'bob/cats:1:/input/pets'"
        )
    head, sep, target = text.partition(":/")
    ref = parse_ref(head, default_owner)
    target = "/" + target if sep else f"{roots[0].rstrip('/')}/{ref.name}"
    return MountRequest(ref=ref, target=check_mount_point(target, roots))


def plan_mounts(
    db: Session,
    caller: Caller,
    specs: list[str],
    *,
    store: BlobStore,
    cache_dir: Path,
    roots: list[str],
) -> list[ResolvedMount]:
    """Check every spec, then materialize each version; nothing is built if any spec is bad."""
    if not isinstance(specs, list):
        raise BadName("'datasets' must be a list of strings like 'mnist:2'")
    requests = [parse_mount_spec(spec, caller.name, roots) for spec in specs]
    targets = sorted(r.target for r in requests)
    for a, b in zip(targets, targets[1:], strict=False):
        if a == b:
            raise BadMount(f"two datasets are mounted at {a}; give one another mount point")
        if b.startswith(a + "/"):
            raise BadMount(f"{b} is inside {a}, where another dataset is mounted")
    resolved = [(r, *resolve(db, caller, r.ref)) for r in requests]
    return [
        ResolvedMount(
            materialize_version(db, version, store, cache_dir),
            request.target,
            dataset.full_name,
            version.number,
        )
        for request, dataset, version in resolved
    ]


def materialize_version(db: Session, version: Version, store: BlobStore, cache_dir: Path) -> Path:
    """The version's directory on this node; the manifest is read only the first time."""
    ready = tree_dir(cache_dir, version.tree_digest)
    if ready.is_dir():
        return ready
    return materialize(load_tree(db, version.tree_digest), store, cache_dir)
