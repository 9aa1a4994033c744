"""Outputs: a job's /output kept as a tree, and found again when someone mounts it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from dataset_mounter.datasets import Caller, missing_blobs, record_blobs, save_tree
from dataset_mounter.mounts import OutputRef
from dataset_mounter.scan import scan_folder
from dataset_mounter.stores import BlobStore
from dataset_mounter.tree import Tree, hash_file
from floe.errors import FloeUserError

from .records import get_job


class OutputNotReady(FloeUserError):
    """A job's output was asked for before the job kept one."""

    status = 409


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


def resolve_output(db: Session, caller: Caller, ref: OutputRef) -> tuple[str, str]:
    """The tree a finished job kept in /output, if ``caller`` may read it."""
    job = get_job(db, caller, f"{ref.owner}/{ref.project}/{ref.number}")
    if job.output_tree is None:
        raise OutputNotReady(
            f"{ref} is not ready: the job is {job.state}"
            + ("" if job.finished_state else "; mount it once the job has finished")
        )
    return str(ref), job.output_tree
