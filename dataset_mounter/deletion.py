"""Deleting what people made: a dataset version, a whole dataset, and (for ``jobs``) what a
deleted job leaves: trees nothing uses any more, and the blobs only they named.

Nothing is deleted while something depends on it: a job that mounted a version (its re-run
would need it), a schedule that names it. The blobs freed go at once when stored over an
hour ago (what is being committed right now was noted as fresh, ``keep.touch_blobs``, so it
is never among them); fresher ones go with the next collection (``collect``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from floe.core.access import DATASET, Caller, can_manage, can_read
from floe.core.errors import Conflict, FloeUserError, Forbidden, NotFound
from floe.core.refs import DatasetRef, MountSpec, OutputRef
from floe.db.base import utcnow
from floe.db.models import Dataset, Job, Schedule, TreeRow, Version
from floe.db.sharing import drop_shares

from .collect import CHUNK, named_blobs, remove_blobs
from .keep import collecting, load_tree
from .stores import BlobStore

# Blobs stored (or noted as fresh) more recently than this are left to the next collection.
FREED_AT_ONCE_AFTER = timedelta(hours=1)
SHOWN = 5  # dependents named in a refusal


def trees_in_use(db: Session) -> set[str]:
    """Every tree a version, a job (code, output, inputs) or a schedule (code) uses."""
    used = set(db.scalars(select(Version.tree_digest)))
    for code, output, inputs in db.execute(select(Job.code_tree, Job.output_tree, Job.datasets)):
        used.update(t for t in (code, output) if t)
        used.update(d.get("tree") for d in inputs or () if isinstance(d, dict))
    for (template,) in db.execute(select(Schedule.template)):
        if template.get("code_tree"):
            used.add(template["code_tree"])
    used.discard(None)
    return used


def forget_trees(db: Session, store: BlobStore, digests: Iterable[str], blobs: set[str]) -> int:
    """Drop the trees of ``digests`` nothing uses any more, then collect the blobs they (and
    ``blobs``, e.g. a log) named that nothing else names; the bytes freed at once."""
    digests = {d for d in digests if d}
    unused = digests - trees_in_use(db)
    for digest in unused:
        blobs |= load_tree(db, digest).blob_ids()
    if unused:
        db.execute(delete(TreeRow).where(TreeRow.digest.in_(unused)))
    db.commit()
    return collect_freed(db, store, blobs)


def collect_freed(db: Session, store: BlobStore, candidates: set[str]) -> int:
    """Remove those of ``candidates`` that nothing names and that were stored over
    FREED_AT_ONCE_AFTER ago; the bytes removed."""
    if not candidates:
        return 0
    cutoff = utcnow() - FREED_AT_ONCE_AFTER
    # Named outside the lock: a tree named since is fresh (touched), so newer than cutoff.
    unnamed = sorted(candidates - named_blobs(db))
    freed = 0
    for start in range(0, len(unnamed), CHUNK):
        with collecting():  # no blob is being stored meanwhile
            freed += sum(remove_blobs(db, store, unnamed[start : start + CHUNK], cutoff).values())
    return freed


def depending_names(items: list[tuple[str, str]], caller: Caller) -> str:
    """The things (owner, "job a/b/3") that depend on what ``caller`` deletes, as they may
    read them: their own by name (an admin: all), the rest only counted."""
    mine = [text for owner, text in items if caller.admin or caller.member_of(owner)]
    shown = ", ".join(mine[:SHOWN])
    if len(mine) > SHOWN:
        shown += f" and {len(mine) - SHOWN} more"
    others = len(items) - len(mine)
    if others:
        shown += f"{' and ' if mine else ''}{others} job(s) or schedule(s) of other people"
    return shown


def _schedule_sources(db: Session) -> Iterable[tuple[Schedule, DatasetRef | OutputRef]]:
    for schedule in db.scalars(select(Schedule)):
        for spec in schedule.data or ():
            try:
                yield schedule, MountSpec.parse(spec, schedule.owner).source
            except FloeUserError:
                continue  # checked when it was made; a spelling since refused names nothing


def dependents_of_version(
    db: Session, dataset: Dataset, number: int | None
) -> list[tuple[str, str]]:
    """Jobs that mounted version ``number`` (any, for None) of ``dataset``, and schedules
    that name it (one naming no version: the latest), as (owner, "job a/b/3")."""
    prefix = f"{dataset.full_name}:"
    latest = max((v.number for v in dataset.versions), default=None)
    wanted = {f"{prefix}{number}"} if number else None
    found = []
    for job in db.scalars(select(Job).where(Job.datasets.is_not(None))):
        sources = {d.get("source") for d in job.datasets or () if isinstance(d, dict)}
        if any(
            s and (s in wanted if wanted else s.startswith(prefix) and s[len(prefix) :].isdigit())
            for s in sources
        ):
            found.append((job.owner, f"job {job.full_name}"))
    for schedule, source in _schedule_sources(db):
        if (
            isinstance(source, DatasetRef)
            and (source.owner, source.name) == (dataset.owner, dataset.name)
            and (number is None or number == (source.version or latest))
        ):
            found.append((schedule.owner, f"schedule {schedule.id}"))
    return found


def delete_dataset(
    db: Session, store: BlobStore, caller: Caller, dataset: Dataset, number: int | None
) -> tuple[list[int], int]:
    """Delete version ``number`` of ``dataset``, or (None) the dataset with every version;
    refused while anything depends on it. The numbers deleted and the bytes freed."""
    if not can_manage(caller, dataset):
        if can_read(caller, dataset) and dataset.owner in caller.teams:
            raise Forbidden(
                f"only {dataset.owner}'s maintainers (or an admin) may delete from "
                f"{dataset.full_name}"
            )
        raise NotFound(f"no dataset {dataset.full_name} that you may change")
    versions = [v for v in dataset.versions if number is None or v.number == number]
    if number is not None and not versions:
        raise NotFound(f"{dataset.full_name} has no version {number}")
    depending = dependents_of_version(db, dataset, number)
    if depending:
        what = f"{dataset.full_name}:{number}" if number else dataset.full_name
        raise Conflict(
            f"{what} is used by {depending_names(depending, caller)}: delete those (or remove "
            "the schedules) first; a job keeps what it mounted so that it can run again"
        )
    digests = {v.tree_digest for v in versions}
    numbers = [v.number for v in versions]
    for version in versions:
        db.delete(version)
    if number is None:
        db.delete(dataset)
        drop_shares(db, DATASET, dataset.owner, dataset.name)
    db.commit()
    return numbers, forget_trees(db, store, digests, set())


def dependents_of_output(db: Session, job: Job) -> list[tuple[str, str]]:
    """Jobs that mounted ``job``'s output, and schedules that name it, as (owner, text)."""
    source = f"{job.full_name}/output"
    found = [
        (other.owner, f"job {other.full_name}")
        for other in db.scalars(select(Job).where(Job.id != job.id))
        if any(isinstance(d, dict) and d.get("source") == source for d in other.datasets or ())
    ]
    for schedule, ref in _schedule_sources(db):
        if isinstance(ref, OutputRef) and (
            ref.owner or schedule.owner,
            ref.project,
            ref.number,
        ) == (job.owner, job.project.name, job.number):
            found.append((schedule.owner, f"schedule {schedule.id}"))
    return found
