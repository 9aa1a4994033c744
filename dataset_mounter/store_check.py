"""Checking the blob store against its names: every blob (or a sample) read and hashed again.

A blob is named by the sha256 of its bytes, and every tree that names it shares it, so a blob
whose bytes changed (a disk fault, or a link the store should never have taken) is wrong for
everyone at once. ``floe-admin check-store`` reads each blob the database says is stored,
says which are damaged, missing or changeable by someone else, and which dataset versions
and jobs name the damaged ones; with ``move_aside`` a damaged blob leaves the store (kept
for an admin to look at) and the database, so the next upload of those bytes stores them
again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from floe.db.models import Blob, Dataset, Job, Project, TreeRow, Version
from floe.trees.tree import Tree

from .keep import collecting
from .materialize import forget_blob, forget_tree
from .stores import COPY_CHUNK, BlobStore

BATCH = 500  # blob rows read at once
MISSING_CODES = ("404", "NoSuchKey", "NotFound")


@dataclass
class Damage:
    """One blob that is not what its name says."""

    sha256: str
    problem: str
    named_by: list[str] = field(default_factory=list)
    moved_to: str = ""


@dataclass
class StoreCheck:
    """What a check found."""

    checked: int = 0
    bytes: int = 0
    seconds: float = 0.0
    damaged: list[Damage] = field(default_factory=list)
    loose: list[Damage] = field(default_factory=list)  # right bytes, but changeable
    tightened: int = 0

    @property
    def sound(self) -> bool:
        return not self.damaged and not self.loose


def _rows(db: Session, sample: int | None) -> Iterator[list[tuple[str, int]]]:
    """The blob rows to check, a batch at a time: all of them in order, or ``sample`` at
    random."""
    if sample is not None:
        rows = db.execute(select(Blob.sha256, Blob.size).order_by(func.random()).limit(sample))
        picked = [tuple(row) for row in rows]
        for start in range(0, len(picked), BATCH):
            yield picked[start : start + BATCH]
        return
    after = ""
    while True:
        query = select(Blob.sha256, Blob.size).where(Blob.sha256 > after)
        batch = [tuple(row) for row in db.execute(query.order_by(Blob.sha256).limit(BATCH))]
        if not batch:
            return
        yield batch
        after = batch[-1][0]


def _read_hash(store: BlobStore, sha256: str) -> tuple[str, int] | None:
    """The sha256 and size of the blob's bytes as the store gives them; None when it lacks it."""
    digest, size = hashlib.sha256(), 0
    try:
        with store.open(sha256) as data:
            while chunk := data.read(COPY_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if len(chunk) < COPY_CHUNK and size < COPY_CHUNK:
                    break  # a small file read whole: no second read to find its end
    except FileNotFoundError:
        return None
    except Exception as err:  # S3's answer for a key it lacks is missing too; the rest goes up
        if getattr(err, "response", {}).get("Error", {}).get("Code") in MISSING_CODES:
            return None
        raise
    return digest.hexdigest(), size


def _problems(store: BlobStore, batch: list[tuple[str, int]], pool: ThreadPoolExecutor):
    """``(sha256, bytes read, problem)`` for each blob of ``batch``: the store's small blobs
    read together, the others each on its own."""
    small = {sha: data for sha, data in store.read_small(sha for sha, _size in batch)}
    found: dict[str, tuple[str, int] | None] = {
        sha: (hashlib.sha256(data).hexdigest(), len(data)) for sha, data in small.items()
    }
    # Large blobs are hashed in parallel (hashing lets go of the GIL); a local store's small
    # files here, where handing each to a thread costs more than reading it (not S3's, each
    # a request that waits).
    here = type(store).local_path is not BlobStore.local_path
    large = [sha for sha, size in batch if sha not in small and (size >= COPY_CHUNK or not here)]
    found.update(zip(large, pool.map(lambda sha: _read_hash(store, sha), large), strict=True))
    for sha, _size in batch:
        if sha not in found:
            found[sha] = _read_hash(store, sha)
    for sha, size in batch:
        seen = found[sha]
        if seen is None:
            yield sha, 0, "missing: the database says it is stored, the store lacks it"
        elif seen[0] != sha:
            yield sha, seen[1], f"damaged: its {seen[1]:,} bytes hash to {seen[0]}"
        elif seen[1] != size:
            yield sha, seen[1], f"damaged: {seen[1]:,} bytes where {size:,} were stored"
        else:
            yield sha, seen[1], ""


def trees_naming(db: Session, wanted: set[str]) -> dict[str, set[str]]:
    """The trees that name any of ``wanted``: digest -> those it names. Reads every tree."""
    trees: dict[str, set[str]] = {}
    if not wanted:
        return trees
    query = select(TreeRow.digest, TreeRow.manifest).execution_options(yield_per=100)
    for digest, manifest in db.execute(query):
        hit = wanted & Tree.decode(manifest).blob_ids()
        if hit:
            trees[digest] = hit
    return trees


def names_of(
    db: Session, shas: Iterable[str], trees: dict[str, set[str]] | None = None
) -> dict[str, list[str]]:
    """What names each of ``shas``, in users' words: dataset versions, jobs' code, /output
    and logs (``trees``: ``trees_naming`` of them, when already read)."""
    wanted = set(shas)
    named: dict[str, list[str]] = {sha: [] for sha in wanted}
    if not wanted:
        return named
    trees = trees_naming(db, wanted) if trees is None else trees
    versions = select(Dataset.owner, Dataset.name, Version.number, Version.tree_digest).join(
        Dataset, Dataset.id == Version.dataset_id
    )
    for owner, name, number, digest in db.execute(versions.where(Version.tree_digest.in_(trees))):
        for sha in trees[digest]:
            named[sha].append(f"dataset {owner}/{name}:{number}")
    jobs = select(
        Job.owner, Project.name, Job.number, Job.code_tree, Job.output_tree, Job.log_blob
    ).join(Project, Project.id == Job.project_id)
    picked = jobs.where(
        Job.code_tree.in_(trees) | Job.output_tree.in_(trees) | Job.log_blob.in_(wanted)
    )
    for owner, project, number, code, output, log_blob in db.execute(picked):
        job = f"job {owner}/{project}/{number}"
        for what, digest in (("code", code), ("output", output)):
            for sha in trees.get(digest, ()):
                named[sha].append(f"{job} ({what})")
        if log_blob in wanted:
            named[log_blob].append(f"{job} (log)")
    return named


def check_store(
    db: Session,
    store: BlobStore,
    sample: int | None = None,
    move_aside: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 4,
    cache_dir: Path | None = None,
) -> StoreCheck:
    """Hash every blob the database says is stored (or ``sample`` of them, at random) and
    compare with its name. With ``move_aside``, damaged blobs leave the store and the
    database (the next upload of their bytes stores them again) and blobs that others could
    change are made the store's own and read-only, and this node's cache (``cache_dir``)
    forgets its copies of the damaged ones and the trees laid out with them.
    ``progress(blobs, bytes)`` after each batch."""
    report = StoreCheck()
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for batch in _rows(db, sample):
            for sha, size, problem in _problems(store, batch, pool):
                report.checked += 1
                report.bytes += size
                if problem:
                    report.damaged.append(Damage(sha, problem))
                elif why := store.looseness(sha):
                    report.loose.append(Damage(sha, f"changeable: {why}"))
            if progress:
                progress(report.checked, report.bytes)
    report.seconds = time.monotonic() - started
    damaged = {d.sha256: d for d in report.damaged}
    trees = trees_naming(db, set(damaged))
    for sha, names in names_of(db, damaged, trees).items():
        damaged[sha].named_by = sorted(names)
    if move_aside:
        _move_aside(db, store, report)
        if cache_dir is not None:
            for digest in trees:
                forget_tree(cache_dir, digest)
            for sha in damaged:
                forget_blob(cache_dir, sha)
    return report


def _move_aside(db: Session, store: BlobStore, report: StoreCheck) -> None:
    with collecting():  # no blob is being stored by this process meanwhile
        for damage in report.damaged:
            # The bytes first, then the row: a keeper elsewhere that finds the row gone
            # stores the bytes anew (there is no file in its way), and one that stored them
            # just before the row went sends them again next time: never a row without bytes.
            damage.moved_to = store.move_aside(damage.sha256)
            db.execute(delete(Blob).where(Blob.sha256 == damage.sha256))
            db.commit()
        for loose in report.loose:
            store.tighten(loose.sha256)
            report.tightened += 1
