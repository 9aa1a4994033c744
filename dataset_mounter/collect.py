"""Collecting what was sent and never kept: blobs no tree and no job log names, a while after
they were stored (an upload that was never committed), so nobody fills the store by sending
without committing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from floe.db.base import utcnow
from floe.db.models import Blob, BlobHolder, Job, TreeRow
from floe.trees.tree import Tree

from .keep import add_storage_use, collecting
from .stores import BlobStore

CHUNK = 100  # blobs removed per step: keepers wait for one step at most


def named_blobs(db: Session) -> set[str]:
    """Every blob a tree (dataset version, job code or output) or a job's log names."""
    named: set[str] = set(db.scalars(select(Job.log_blob).where(Job.log_blob.is_not(None))))
    for manifest in db.scalars(select(TreeRow.manifest).execution_options(yield_per=100)):
        named.update(Tree.decode(manifest).blob_ids())
    return named


def collect_unnamed(db: Session, store: BlobStore, older_than: timedelta) -> tuple[int, int]:
    """Remove blobs stored before ``older_than`` ago that nothing names; (blobs, bytes).

    A blob named, sent or kept again meanwhile is noted as fresh first (``keep.touch_blobs``)
    and so left; one removed before that is missing to whoever names it, and sent again."""
    cutoff = utcnow() - older_than
    old = db.execute(select(Blob.sha256, Blob.size).where(Blob.created < cutoff)).all()
    if not old:
        return 0, 0
    named = named_blobs(db)
    unnamed = [sha for sha, _size in old if sha not in named]
    count = size = 0
    for start in range(0, len(unnamed), CHUNK):
        with collecting():  # no blob is being stored meanwhile
            gone = remove_blobs(db, store, unnamed[start : start + CHUNK], cutoff)
        count += len(gone)
        size += sum(gone.values())
    return count, size


def remove_blobs(db: Session, store: BlobStore, shas: list[str], cutoff: datetime) -> dict:
    """Remove those of ``shas`` stored before ``cutoff``; {sha: size} of those removed. The
    caller is ``collecting`` (no blob is being stored meanwhile)."""
    # Rows first, and only of blobs still old: a blob is gone for everyone before its
    # bytes go.
    gone = db.execute(
        delete(Blob)
        .where(Blob.sha256.in_(shas), Blob.created < cutoff)
        .returning(Blob.sha256, Blob.size)
    ).all()
    removed = dict(gone)
    let_go = db.execute(
        delete(BlobHolder)
        .where(BlobHolder.sha256.in_(list(removed)))
        .returning(BlobHolder.holder, BlobHolder.sha256)
    ).all()
    change: dict[str, int] = {}
    for holder, sha in let_go:
        change[holder] = change.get(holder, 0) - removed[sha]
    add_storage_use(db, change)
    db.commit()
    store.delete_many(list(removed))
    return removed
