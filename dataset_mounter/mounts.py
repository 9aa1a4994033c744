"""Mount specs resolved to exact trees, and turned into read-only binds on this node.

A spec is ``SOURCE[:MOUNT]`` (see ``floe.core.refs.MountSpec``): a dataset version or a job's
output, mounted read-only at an allowed mount point (under ``/input`` by default), each used
once. What is mounted must exist and be readable by the user; it is pinned to its tree when
the workspace or job is made, so a later version never changes what a job saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from floe.core.access import Caller, can_read
from floe.core.errors import InvalidRequest, NotFound, NotReady
from floe.core.refs import DatasetRef, MountSpec, OutputRef, check_mount_targets
from floe.db.lookup import find_job

from .datasets import resolve
from .keep import load_tree
from .materialize import materialize, tree_dir
from .stores import BlobStore


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
    """A tree laid out on this node, ready to bind read-only at ``target`` (``path`` None: not
    laid out here, for a node's volume plugin to lay out where the container runs)."""

    path: Path | None
    target: str
    source: str
    tree: str


def output_tree(db: Session, caller: Caller, ref: OutputRef) -> str:
    """The tree a finished job kept in /output, if ``caller`` may read it."""
    job = find_job(db, ref.job, caller.name)
    if job is None or not can_read(caller, job):
        raise NotFound(f"no job {ref.job} that you can see")
    if job.output_tree is None:
        raise NotReady(
            f"{job.full_name}/output is not ready: the job is {job.state}"
            + ("" if job.finished_state else "; mount it once the job has finished")
        )
    return job.output_tree


def resolve_mounts(
    db: Session, caller: Caller, specs: object, *, roots: list[str]
) -> list[MountPlan]:
    """Check every spec and pin it to an exact tree; raises on the first bad one."""
    if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
        raise InvalidRequest("'datasets' must be a list of strings like 'mnist:2'")
    parsed = [MountSpec.parse(spec, caller.name) for spec in specs]
    targets = [spec.target(roots) for spec in parsed]
    check_mount_targets(targets)
    plans = []
    for spec, target in zip(parsed, targets, strict=True):
        if isinstance(spec.source, OutputRef):
            job_output = spec.source
            tree = output_tree(db, caller, job_output)
            owner = job_output.owner or caller.name
            source = str(OutputRef(owner, job_output.project, job_output.number))
        else:
            dataset, version = resolve(db, caller, spec.source)
            source = str(DatasetRef(dataset.owner, dataset.name, version.number))
            tree = version.tree_digest
        plans.append(MountPlan(spec=spec.text, source=source, target=target, tree=tree))
    return plans


def materialize_mounts(
    db: Session, plans: list[MountPlan], store: BlobStore, cache_dir: Path
) -> list[ResolvedMount]:
    """Lay out each planned tree on this node (once per tree; later calls reuse it)."""
    return [
        ResolvedMount(materialize_tree(db, p.tree, store, cache_dir), p.target, p.source, p.tree)
        for p in plans
    ]


def unlaid_mounts(plans: list[MountPlan]) -> list[ResolvedMount]:
    """The planned trees, laid out by the volume plugin of whichever node runs the container."""
    return [ResolvedMount(None, p.target, p.source, p.tree) for p in plans]


def plan_mounts(
    db: Session,
    caller: Caller,
    specs: list[str],
    *,
    store: BlobStore,
    cache_dir: Path,
    roots: list[str],
) -> list[ResolvedMount]:
    """Check every spec, then materialize each tree; nothing is built if any spec is bad."""
    plans = resolve_mounts(db, caller, specs, roots=roots)
    return materialize_mounts(db, plans, store, cache_dir)


def materialize_tree(db: Session, digest: str, store: BlobStore, cache_dir: Path) -> Path:
    """The tree's directory on this node; the manifest is read only the first time."""
    ready = tree_dir(cache_dir, digest)
    if ready.is_dir():
        return ready
    return materialize(load_tree(db, digest), store, cache_dir)
