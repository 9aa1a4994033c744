"""Keeping bytes: which blobs the store holds, recording new ones, saving and loading trees.

Dataset versions, jobs' code, jobs' outputs and logs are all kept this way: blobs first (only
those the store lacks), then the tree that names them.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.core.errors import Conflict, NotFound
from floe.db.models import Blob, TreeRow

from .scan import scan_folder
from .stores import BlobStore
from .tree import Tree, hash_file


def missing_blobs(db: Session, blob_ids: set[str]) -> list[str]:
    """Which of ``blob_ids`` are not durable in the store yet."""
    ids = sorted(blob_ids)
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        known.update(db.scalars(select(Blob.sha256).where(Blob.sha256.in_(chunk))))
    return [i for i in ids if i not in known]


def require_uploaded(db: Session, tree: Tree, what: str = "") -> None:
    """Refuse a tree naming blobs the store does not hold; the answer lists them (409)."""
    missing = missing_blobs(db, tree.blob_ids())
    if missing:
        field = {"field": what} if what else {}
        raise Conflict(
            f"{what + ': ' if what else ''}{len(missing)} file(s) have not been uploaded yet; "
            "send them and retry",
            missing=missing,
            **field,
        )


def record_blobs(db: Session, blobs: dict[str, int]) -> None:
    """Note blobs (id -> size) as durable in the store."""
    new = missing_blobs(db, set(blobs))
    db.add_all(Blob(sha256=sha, size=blobs[sha]) for sha in new)
    try:
        db.commit()
    except IntegrityError:  # some were recorded by a concurrent upload of the same bytes
        db.rollback()
        for sha in missing_blobs(db, set(new)):
            db.add(Blob(sha256=sha, size=blobs[sha]))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()


def save_tree(db: Session, tree: Tree) -> str:
    """Store ``tree`` (once per content) and return its digest. Does not commit."""
    digest = tree.digest
    if db.get(TreeRow, digest) is None:
        db.add(
            TreeRow(
                digest=digest, manifest=tree.encode(), size=tree.size, file_count=tree.file_count
            )
        )
    return digest


def load_tree(db: Session, digest: str) -> Tree:
    row = db.get(TreeRow, digest)
    if row is None:
        raise NotFound(f"tree {digest} is gone")
    return Tree.decode(row.manifest)


def keep_folder(db: Session, store: BlobStore, folder: Path) -> Tree:
    """Store every file of ``folder`` the store lacks and save the folder's tree (committed)."""
    tree, sources = scan_folder(folder)
    for sha in missing_blobs(db, tree.blob_ids()):
        store.put_file(sha, Path(sources[sha]))
    record_blobs(db, {e.sha256: e.size for e in tree.entries})
    save_tree(db, tree)
    db.commit()
    return tree


def keep_file(db: Session, store: BlobStore, path: Path) -> str | None:
    """Store one file as a blob (unless the store has it); its sha256, None if it is not there.

    A job's log is kept this way when the job ends, so it outlives the node's job folder.
    """
    if path.is_symlink() or not path.is_file():
        return None
    sha = hash_file(path)
    if missing_blobs(db, {sha}):
        store.put_file(sha, path)
    record_blobs(db, {sha: path.stat().st_size})
    db.commit()
    return sha


def keep_bytes(db: Session, store: BlobStore, data: bytes, sha256: str) -> None:
    """Store bytes already hashed (a notebook sent as JSON) unless the store has them."""
    if missing_blobs(db, {sha256}):
        store.put_many([(sha256, data)])
        record_blobs(db, {sha256: len(data)})
