"""Deleting a finished job (``floe delete JOB``): its history, metrics, tokens and log, and
its code and output where nothing else uses them; refused while it runs or while a job or a
schedule mounts its output."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dataset_mounter.deletion import dependents_of_output, depending_names, forget_trees
from dataset_mounter.stores import BlobStore
from floe.core.access import Caller, can_manage
from floe.core.errors import Conflict, Forbidden, NotFound
from floe.db.models import Job, JobEvent, Metric, ServingToken, Task


def delete_job(db: Session, store: BlobStore, caller: Caller, job: Job, folder: Path) -> int:
    """Delete ``job`` (and ``folder``, its place on this node); the bytes freed at once."""
    if not can_manage(caller, job):
        if caller.member_of(job.owner):
            raise Forbidden(
                f"only {job.owner}'s maintainers (or an admin) may delete {job.full_name}"
            )
        raise NotFound(f"no job {job.full_name} that you can see")
    if not job.finished_state:
        raise Conflict(f"{job.full_name} is {job.state}: stop it first (floe stop {job.full_name})")
    depending = dependents_of_output(db, job)
    if depending:
        raise Conflict(
            f"{job.full_name}/output is used by {depending_names(depending, caller)}: delete "
            "those (or remove the schedules) first"
        )
    trees = {job.code_tree, job.output_tree}
    log = {job.log_blob} if job.log_blob else set()
    task_id = job.task_id
    for table in (JobEvent, Metric, ServingToken):
        db.execute(delete(table).where(table.job_id == job.id))
    db.delete(job)
    db.commit()
    if task_id is not None:  # a task whose last job went goes too
        left = db.scalar(select(func.count(Job.id)).where(Job.task_id == task_id))
        if not left:
            db.execute(delete(Task).where(Task.id == task_id))
            db.commit()
    shutil.rmtree(folder, ignore_errors=True)
    return forget_trees(db, store, trees, log)
