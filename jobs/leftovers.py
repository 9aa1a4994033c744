"""What a job leaves when it ends, kept: its /output as a tree (what fits, what can be kept)
and its log as a blob, both held by the job's owner."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from dataset_mounter.keep import keep_file, keep_folder
from dataset_mounter.stores import BlobStore
from floe.db.models import Job

from .job_folder import JobFolder, skipped_lines
from .limits import JobLimits

log = logging.getLogger("floe.jobs")


def keep_leftovers(
    db: Session,
    store: BlobStore,
    job: Job,
    folder: JobFolder,
    limits: JobLimits,
    quota: int = 0,
) -> str:
    """Keep the job's /output and log (not committed); why /output could not be kept, or "".

    Files that cannot be kept or do not fit are listed at the end of the job's log.
    """
    why = ""
    try:
        skipped: list[tuple[str, str]] = []
        tree = keep_folder(
            db,
            store,
            folder.output,
            job.owner,
            skipped,
            max_bytes=limits.max_output_bytes,
            quota=quota,
        )
        job.output_tree = tree.digest
        folder.note(skipped_lines(skipped))
    except Exception as err:
        log.exception("job %s: keeping /output", job.full_name)
        why = f"its /output could not be kept: {err}"
    try:
        job.log_blob = keep_file(db, store, folder.log, job.owner)
    except Exception:
        log.exception("job %s: keeping the log in the blob store", job.full_name)
    return why
