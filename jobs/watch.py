"""What the runner does for a job while it runs: read its new metric lines, and find it when
it has run past its maximum runtime or written past its limits (:class:`Watched`, the
runner's thread that does it for every job it follows)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from floe.core.durations import format_duration
from floe.core.job_states import JobState
from floe.core.sizes import format_size
from floe.db.base import aware, utcnow
from floe.db.models import Job, Metric

from .job_folder import JobFolder
from .limits import JobLimits
from .logs import parse_metrics, read_whole_lines

log = logging.getLogger("floe.jobs")

# How often a running job's /output is measured (the log is at every turn of the watch).
OUTPUT_CHECK_S = 5


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
        Job.state == JobState.RUNNING, Job.max_runtime.is_not(None), Job.stop_requested_by == ""
    )
    for job in db.scalars(query):
        if job.started and now - aware(job.started) > timedelta(seconds=job.max_runtime):
            found.append((job.id, f"its maximum runtime of {format_duration(job.max_runtime)}"))
    return found


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Levels walked: deeper than a tree may be (128) is never kept anyway, and each level holds
# two descriptors while it is read.
WALK_DEPTH = 130


def folder_size(path: Path, enough: int, enough_entries: int) -> tuple[int, int]:
    """Bytes of the files under ``path`` (as big as they say, sparse or not) and how many
    entries it holds, counting no further once past either ``enough``.

    Walked depth first by folder descriptors opened without following links (one open
    folder a level, at most ``WALK_DEPTH`` levels): a folder the job swaps for a link
    meanwhile is left out, never walked where it leads."""
    total = count = 0
    try:
        top = os.open(path, _FOLDER)
    except OSError:
        return 0, 0
    stack = [(top, os.scandir(top))]
    try:
        while stack and total <= enough and count <= enough_entries:
            fd, entries = stack[-1]
            try:
                entry = next(entries, None)
            except OSError:
                entry = None  # unreadable: the job's own business
            if entry is None:
                entries.close()
                os.close(fd)
                stack.pop()
                continue
            count += 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    if len(stack) < WALK_DEPTH:
                        child = os.open(entry.name, _FOLDER, dir_fd=fd)
                        stack.append((child, os.scandir(child)))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue  # gone, or no longer a folder
    finally:
        for fd, entries in stack:
            entries.close()
            os.close(fd)
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
    output = folder.kept_output()
    if output is None:
        return "its /output folder being replaced with something else"
    size, entries = folder_size(output, limits.max_output_bytes, limits.max_output_files)
    return output_over(size, entries, limits)


def output_over(size: int, entries: int, limits: JobLimits) -> str:
    """Why a job whose /output holds ``size`` bytes in ``entries`` must stop ("" if not)."""
    if size > limits.max_output_bytes:
        return f"its /output passing {format_size(limits.max_output_bytes)}, the most a job keeps"
    if entries > limits.max_output_files:
        return f"its /output passing {limits.max_output_files:,} files, the most a job keeps"
    return ""


class Watched:
    """The jobs the runner follows, and the loop reading their metric lines and asking
    ``stop(job_id, why)`` (once per job) for the ones past what they may write (the log at
    every turn, /output every few seconds); ``overdue`` for those past their runtime."""

    def __init__(
        self,
        sessions: sessionmaker,
        limits: JobLimits,
        folder: Callable[[int], JobFolder],
        stop: Callable[[int, str], object],
        interval: float,
    ) -> None:
        self.sessions, self.limits, self.folder, self.stop = sessions, limits, folder, stop
        self.interval = interval
        self.stopping = False
        self._locks: dict[int, threading.Lock] = {}  # one reader of a job's log at a time
        self._lock = threading.Lock()

    def add(self, job_id: int) -> None:
        with self._lock:
            self._locks[job_id] = threading.Lock()

    def discard(self, job_id: int) -> None:
        with self._lock:
            self._locks.pop(job_id, None)

    def follows(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._locks

    def read_metrics(self, job_id: int, chunks: int | None = 1) -> None:
        with self._lock:
            lock = self._locks.get(job_id) or threading.Lock()
        with lock, self.sessions() as db:
            job = db.get(Job, job_id)
            most = self.limits.max_metric_lines
            read_metrics(db, job, self.folder(job_id).log, most, chunks)

    def loop(self) -> None:
        next_runtime_check = next_output_check = 0.0
        while not self.stopping:
            with self._lock:
                job_ids = list(self._locks)
            look_at_output = time.monotonic() >= next_output_check
            if look_at_output:
                next_output_check = time.monotonic() + OUTPUT_CHECK_S
            for job_id in job_ids:
                try:
                    self.read_metrics(job_id)
                    why = over_limits(self.folder(job_id), self.limits, look_at_output)
                    if why:
                        self.stop(job_id, why)  # the runner stops each job once for this
                except Exception:
                    log.exception("job %s: watching it", job_id)
            if time.monotonic() >= next_runtime_check:
                next_runtime_check = time.monotonic() + 1
                try:
                    with self.sessions() as db:
                        late = overdue(db)
                    for job_id, why in late:
                        self.stop(job_id, why)
                except Exception:
                    log.exception("stopping jobs past their maximum runtime")
            threading.Event().wait(self.interval)
