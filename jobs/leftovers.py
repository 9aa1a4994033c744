"""What a job leaves when it ends, kept: its /output as a tree (what fits, what can be kept)
and its log as a blob, both held by the job's owner and both within bounds: the job's caps
(``JobLimits``) and the room left in its owner's storage quota."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.orm import Session

from dataset_mounter.keep import keep_file, keep_folder, room_left
from dataset_mounter.stores import BlobStore
from floe.core.errors import QuotaExceeded
from floe.core.sizes import format_size
from floe.db.models import Job
from floe.trees.scan import PAST_CAP

from .job_folder import OUTPUT_REPLACED, JobFolder, skipped_lines
from .limits import JobLimits

log = logging.getLogger("floe.jobs")

# A log is kept up to this much even past its owner's quota, so they can read why it ended
# (submits are refused once the quota is full, so this is at most once per running job).
LOG_KEPT_PAST_QUOTA = 64 * 1024


def keep_leftovers(
    db: Session,
    store: BlobStore,
    job: Job,
    folder: JobFolder,
    limits: JobLimits,
    quota: int = 0,
) -> tuple[str, bool]:
    """Keep the job's /output and log (not committed): why /output was not all kept (or
    ""), and whether its files here may go (not when keeping failed for a reason not the
    owner's, the store's: then an admin can look).

    Files that cannot be kept or do not fit are listed at the end of the job's log."""
    notes: list[str] = []
    output = folder.kept_output()
    if output is None:  # a link (to the node's files, say) or a file: none of it is read
        why, drop = OUTPUT_REPLACED, True
        notes.append(OUTPUT_REPLACED)
    else:
        why, drop = _keep_output(db, store, job, output, limits, quota, notes)
    try:
        job.log_blob = _keep_log(db, store, job.owner, folder, limits, quota, notes)
    except Exception:
        log.exception("job %s: keeping the log in the blob store", job.full_name)
    return why, drop


def _keep_output(
    db: Session,
    store: BlobStore,
    job: Job,
    output: Path,
    limits: JobLimits,
    quota: int,
    notes: list[str],
) -> tuple[str, bool]:
    """Keep /output as the job's output tree, what was left out added to ``notes``."""
    why, drop = "", True
    try:
        skipped: list[tuple[str, str]] = []
        room = room_left(db, job.owner, quota)
        fits = limits.max_output_bytes if room is None else min(limits.max_output_bytes, room)
        tree = keep_folder(
            db,
            store,
            output,
            job.owner,
            skipped,
            max_bytes=fits,
            max_files=limits.max_output_files,
            quota=quota,
        )
        job.output_tree = tree.digest
        notes += skipped_lines(skipped)
        if fits < limits.max_output_bytes and any(PAST_CAP in w for _p, w in skipped):
            full = f"{job.owner}'s storage quota of {format_size(quota)} is full"
            notes.append(f"/output was kept up to the {format_size(fits)} left: {full}")
            why = f"{full}: /output was kept in part, the rest is listed in the log"
    except QuotaExceeded as err:  # another keeping of theirs took the room meanwhile
        why = f"its /output could not be kept: {err}"
    except Exception as err:
        log.exception("job %s: keeping /output", job.full_name)
        why, drop = f"its /output could not be kept: {err}", False
    return why, drop


def _keep_log(
    db: Session,
    store: BlobStore,
    owner: str,
    folder: JobFolder,
    limits: JobLimits,
    quota: int,
    notes: list[str],
) -> str | None:
    """The log, cut to ``max_log_bytes`` and to the quota's room, with Floe's ``notes`` at its
    end; kept. Past the quota after all (keepings in parallel), cut to LOG_KEPT_PAST_QUOTA
    and kept anyway."""
    room = room_left(db, owner, quota)
    most = limits.max_log_bytes
    if room is not None:
        most = min(most, max(room - 4096, LOG_KEPT_PAST_QUOTA))  # 4 KiB: the notes
    _cut_log(folder, most)
    folder.note(notes)
    try:
        return keep_file(db, store, folder.log, owner, quota)
    except QuotaExceeded:
        _cut_log(folder, LOG_KEPT_PAST_QUOTA)
        folder.note([f"{owner}'s storage quota of {format_size(quota)} is full"])
        return keep_file(db, store, folder.log, owner)


def _cut_log(folder: JobFolder, most: int) -> None:
    """Cut the log to ``most`` bytes (what it wrote after the last check, past its cap or the
    quota's room), saying so at its end."""
    size = os.lstat(folder.log).st_size
    if size <= most:
        return
    fd = folder.open_log()
    if fd is None:
        return
    try:
        os.ftruncate(fd, most)
        os.write(fd, b"\n")  # Floe's line starts a line of its own
    finally:
        os.close(fd)
    folder.note([f"the log was cut at {format_size(most)} of {format_size(size)}"])
