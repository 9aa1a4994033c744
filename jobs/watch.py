"""What the runner does for a job while it runs: read its new metric lines, and find it when
it has run past its maximum runtime."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floe.core.durations import format_duration
from floe.db.base import aware, utcnow
from floe.db.models import RUNNING, Job, Metric

from .logs import parse_metrics, read_whole_lines


def read_metrics(db: Session, job: Job, log: Path, most: int) -> None:
    """Keep the metric lines the job printed since last time, ``most`` in all; each batch of
    rows is committed with the log offset it reached, so a restart neither skips nor repeats."""
    kept = db.scalar(select(func.count(Metric.id)).where(Metric.job_id == job.id))
    while data := read_whole_lines(log, job.metrics_offset):
        room = max(0, most - kept)
        found = parse_metrics(data)[:room] if room else []
        kept += len(found)
        db.add_all(Metric(job_id=job.id, values=v) for v in found)
        job.metrics_offset += len(data)
        db.commit()


def overdue(db: Session) -> list[tuple[int, str]]:
    """Running jobs past their maximum runtime, not yet asked to stop, with why to stop them."""
    now = utcnow()
    found = []
    query = select(Job).where(
        Job.state == RUNNING, Job.max_runtime.is_not(None), Job.stop_requested_by == ""
    )
    for job in db.scalars(query):
        if job.started and now - aware(job.started) > timedelta(seconds=job.max_runtime):
            found.append((job.id, f"its maximum runtime of {format_duration(job.max_runtime)}"))
    return found
