"""What the runner does for a job while it runs: read its new metric lines, and find it when
it has run past its maximum runtime or written past its limits."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from floe.core.durations import format_duration
from floe.core.sizes import format_size
from floe.db.base import aware, utcnow
from floe.db.models import RUNNING, Job, Metric

from .job_folder import JobFolder
from .limits import JobLimits
from .logs import parse_metrics, read_whole_lines


def read_metrics(db: Session, job: Job, log: Path, most: int, chunks: int | None = 1) -> None:
    """Keep the metric lines the job printed since last time, ``most`` in all, reading at
    most ``chunks`` chunks of the log (None: to its end) so no job holds up the others.

    Each batch of rows is committed with the log offset it reached and the last value of
    each key, so a restart neither skips nor repeats, and nobody reads every row to chart.
    """
    read = 0
    while (chunks is None or read < chunks) and (data := read_whole_lines(log, job.metrics_offset)):
        read += 1
        room = max(0, most - job.metric_lines)
        found, seen = parse_metrics(data, room) if room else ([], 0)
        job.metric_lines += seen
        db.add_all(Metric(job_id=job.id, values=v) for v in found)
        if found:
            last = dict(job.metrics_last or {})
            for values in found:
                last.update(values)
            job.metrics_last = last
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


def folder_size(path: Path, enough: int, enough_entries: int) -> tuple[int, int]:
    """Bytes of the files under ``path`` (as big as they say, sparse or not) and how many
    entries it holds, counting no further once past either ``enough``."""
    total = count = 0
    folders = [str(path)]
    while folders and total <= enough and count <= enough_entries:
        try:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    count += 1
                    if count > enough_entries:
                        break
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue  # gone or unreadable: the job's own business
    return total, count


def over_limits(folder: JobFolder, limits: JobLimits, look_at_output: bool) -> str:
    """Why a running job must stop for what it wrote ("" when it need not)."""
    try:
        log_bytes = os.stat(folder.log, follow_symlinks=False).st_size
    except OSError:
        log_bytes = 0
    if log_bytes > limits.max_log_bytes:
        return f"its log passing {format_size(limits.max_log_bytes)}, the most a job may write"
    if not look_at_output:
        return ""
    size, entries = folder_size(folder.output, limits.max_output_bytes, limits.max_output_files)
    if size > limits.max_output_bytes:
        return f"its /output passing {format_size(limits.max_output_bytes)}, the most a job keeps"
    if entries > limits.max_output_files:
        return f"its /output passing {limits.max_output_files:,} files, the most a job keeps"
    return ""
