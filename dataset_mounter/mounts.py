"""Mount specs checked, resolved to exact trees, and turned into read-only binds.

A spec is ``[owner/]name[:version][:/mount/point]`` for a dataset or
``[owner/]project/N/output[:/mount/point]`` for a job's output. Mount points must be absolute,
normalised, strictly under an allowed root (``/input`` by default) and used once; what is
mounted must exist and be readable by the user.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from floe.errors import BadMount, BadName
from floe.names import DatasetRef, parse_ref

from .datasets import Caller, load_tree, resolve
from .materialize import materialize, tree_dir
from .stores import BlobStore

_OUTPUT = re.compile(r"^(?:([^/:\s]+)/)?([a-z0-9][a-z0-9._-]{0,99})/(\d+)/output$")


@dataclass(frozen=True)
class OutputRef:
    """``[owner/]project/N/output``: what job N of a project left in /output."""

    owner: str
    project: str
    number: int

    def __str__(self) -> str:
        return f"{self.owner}/{self.project}/{self.number}/output"


@dataclass(frozen=True)
class MountRequest:
    ref: DatasetRef | OutputRef
    target: str


@dataclass(frozen=True)
class MountPlan:
    """An exact tree to mount read-only at ``target``; ``source`` names it for people."""

    spec: str
    source: str
    target: str
    tree: str

    def to_json(self) -> dict[str, str]:
        return {"spec": self.spec, "source": self.source, "target": self.target, "tree": self.tree}


@dataclass(frozen=True)
class ResolvedMount:
    """A tree laid out on this node, ready to bind read-only at ``target``."""

    path: Path
    target: str
    source: str


# Finds the output tree of a job for a caller: (its name for people, its tree digest).
OutputResolver = Callable[[Session, Caller, OutputRef], tuple[str, str]]


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
    """``mnist``, ``mnist:2``, ``bob/cats:1:/input/pets``, ``alice/cats/3/output:/input/prev``."""
    if not isinstance(text, str) or not text.strip():
        raise BadName(
            "each dataset is a string like 'mnist', 'mnist:2', 'bob/cats:1:/input/pets' "
            "or a job's output like 'alice/cats/3/output'"
        )
    head, sep, target = text.partition(":/")
    ref: DatasetRef | OutputRef
    output = _OUTPUT.match(head)
    if output:
        owner, project, number = output.groups()
        ref = OutputRef(owner or default_owner, project, int(number))
        default_target = f"{project}-{number}"
    else:
        ref = parse_ref(head, default_owner)
        default_target = ref.name
    target = "/" + target if sep else f"{roots[0].rstrip('/')}/{default_target}"
    return MountRequest(ref=ref, target=check_mount_point(target, roots))


def resolve_mounts(
    db: Session,
    caller: Caller,
    specs: list[str],
    *,
    roots: list[str],
    outputs: OutputResolver | None = None,
) -> list[MountPlan]:
    """Check every spec and pin it to an exact tree; raises on the first bad one."""
    if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
        raise BadName("'datasets' must be a list of strings like 'mnist:2'")
    requests = [parse_mount_spec(spec, caller.name, roots) for spec in specs]
    targets = sorted(r.target for r in requests)
    for a, b in zip(targets, targets[1:], strict=False):
        if a == b:
            raise BadMount(f"two datasets are mounted at {a}; give one another mount point")
        if b.startswith(a + "/"):
            raise BadMount(f"{b} is inside {a}, where another dataset is mounted")
    plans = []
    for spec, request in zip(specs, requests, strict=True):
        if isinstance(request.ref, OutputRef):
            if outputs is None:
                raise BadName(f"{spec!r}: job outputs cannot be mounted here")
            source, tree = outputs(db, caller, request.ref)
        else:
            dataset, version = resolve(db, caller, request.ref)
            source, tree = f"{dataset.full_name}:{version.number}", version.tree_digest
        plans.append(MountPlan(spec=spec, source=source, target=request.target, tree=tree))
    return plans


def materialize_mounts(
    db: Session, plans: list[MountPlan], store: BlobStore, cache_dir: Path
) -> list[ResolvedMount]:
    """Lay out each planned tree on this node (once per tree; later calls reuse it)."""
    return [
        ResolvedMount(materialize_tree(db, p.tree, store, cache_dir), p.target, p.source)
        for p in plans
    ]


def plan_mounts(
    db: Session,
    caller: Caller,
    specs: list[str],
    *,
    store: BlobStore,
    cache_dir: Path,
    roots: list[str],
    outputs: OutputResolver | None = None,
) -> list[ResolvedMount]:
    """Check every spec, then materialize each tree; nothing is built if any spec is bad."""
    plans = resolve_mounts(db, caller, specs, roots=roots, outputs=outputs)
    return materialize_mounts(db, plans, store, cache_dir)


def materialize_tree(db: Session, digest: str, store: BlobStore, cache_dir: Path) -> Path:
    """The tree's directory on this node; the manifest is read only the first time."""
    ready = tree_dir(cache_dir, digest)
    if ready.is_dir():
        return ready
    return materialize(load_tree(db, digest), store, cache_dir)
