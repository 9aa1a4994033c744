"""What a job leaves when it ends, kept: its /output as a tree (what fits, what can be kept)
and its log as a blob, both held by the job's owner and both within bounds: the job's caps
(``JobLimits``) and the room left in its owner's storage quota."""

from __future__ import annotations

import logging
import os

from sqlalchemy.orm import Session

from dataset_mounter.keep import keep_file, keep_folder, storage_used
from dataset_mounter.scan import PAST_CAP
from dataset_mounter.stores import BlobStore
from floe.core.errors import QuotaExceeded
from floe.core.sizes import format_size
from floe.db.models import Job

from .job_folder import JobFolder, skipped_lines
from .limits import JobLimits

log = logging.getLogger("floe.jobs")

# A log is kept up to this much even past its owner's quota, so they can read why it ended.
LOG_KEPT_PAST_QUOTA = 64 * 1024


def keep_leftovers(
    db: Session,
    store: BlobStore,
    job: Job,
    folder: JobFolder,
    limits: JobLimits,
    quota: int = 0,
) -> str:
    """Keep the job's /output and log (not committed); why /output was not all kept, or "".

    Files that cannot be kept or do not fit are listed at the end of the job's log. Its
    /output here is removed unless keeping it failed for a reason not the owner's (the
    store), so an admin can look.
    """
    why, drop = "", True
    room = _room(db, job.owner, quota)
    try:
        skipped: list[tuple[str, str]] = []
        fits = limits.max_output_bytes if room is None else min(limits.max_output_bytes, room)
        tree = keep_folder(
            db,
            store,
            folder.output,
            job.owner,
            skipped,
            max_bytes=fits,
            max_files=limits.max_output_files,
            quota=quota,
        )
        job.output_tree = tree.digest
        folder.note(skipped_lines(skipped))
        if fits < limits.max_output_bytes and any(PAST_CAP in w for _p, w in skipped):
            full = f"{job.owner}'s storage quota of {format_size(quota)} is full"
            folder.note([f"/output was kept up to the {format_size(fits)} left: {full}"])
            why = f"{full}: /output was kept in part, the rest is listed in the log"
    except QuotaExceeded as err:  # another keeping of theirs took the room meanwhile
        why = f"its /output could not be kept: {err}"
    except Exception as err:
        log.exception("job %s: keeping /output", job.full_name)
        why, drop = f"its /output could not be kept: {err}", False
    try:
        _cut_log(folder, limits.max_log_bytes, _room(db, job.owner, quota))
        job.log_blob = keep_file(db, store, folder.log, job.owner)
    except Exception:
        log.exception("job %s: keeping the log in the blob store", job.full_name)
    if drop:
        folder.drop_output()
    return why


def _room(db: Session, owner: str, quota: int) -> int | None:
    """Bytes ``owner`` may still keep; None without a quota."""
    return max(0, quota - storage_used(db, owner)) if quota else None


def _cut_log(folder: JobFolder, max_bytes: int, room: int | None) -> None:
    """Cut the log to ``max_bytes`` (what it wrote after the last check) and to the quota's
    room (but never below ``LOG_KEPT_PAST_QUOTA``), saying so at its end."""
    size = folder.log.stat().st_size
    keep = min(size, max_bytes)
    if room is not None:
        keep = min(keep, max(room, LOG_KEPT_PAST_QUOTA))
    if keep == size:
        return
    fd = os.open(folder.log, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    try:
        os.ftruncate(fd, keep)
        os.write(fd, b"\n")  # Floe's line starts a line of its own
    finally:
        os.close(fd)
    folder.note([f"the log was cut at {format_size(keep)} of {format_size(size)}"])
