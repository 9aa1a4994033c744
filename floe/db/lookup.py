"""Rows by the names users give them: a dataset by owner and name, a job by any of its names.

Finding is not permission: callers check what the user may see (``floe.core.access``) and
answer NotFound either way.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from floe.core.refs import JobRef, TaskRef

from .models import Dataset, Job, Project, Task


def find_dataset(db: Session, owner: str, name: str) -> Dataset | None:
    return db.scalar(select(Dataset).where(Dataset.owner == owner, Dataset.name == name))


def find_project(db: Session, owner: str, name: str) -> Project | None:
    return db.scalar(select(Project).where(Project.owner == owner, Project.name == name))


def find_job(db: Session, ref: JobRef, default_owner: str) -> Job | None:
    """The job ``ref`` names (by id, or by number in a project; no owner: ``default_owner``'s)."""
    if ref.id is not None:
        return db.get(Job, ref.id)
    return db.scalar(
        select(Job)
        .join(Project)
        .where(
            Project.owner == (ref.owner or default_owner),
            Project.name == ref.project,
            Job.number == ref.number,
        )
    )


def find_task(db: Session, ref: TaskRef, default_owner: str) -> Task | None:
    """The task ``ref`` names (by id, or by number in a project)."""
    if ref.id is not None:
        return db.get(Task, ref.id)
    return db.scalar(
        select(Task)
        .join(Project)
        .where(
            Project.owner == (ref.owner or default_owner),
            Project.name == ref.project,
            Task.number == ref.number,
        )
    )
