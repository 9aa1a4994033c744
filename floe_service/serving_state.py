"""What the floe service holds in memory of serving jobs (``serving_proxy`` forwards to them).

The job's state for a second (``STATE_FOR_S``), a token for ``c.Serving.token_check_s``,
the request figures until they are written down, the request bodies held at once (within
``c.Serving.max_buffered_bytes``, one owner's jobs at most half), and the one HTTP client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tornado.ioloop import PeriodicCallback
from tornado.log import app_log
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from floe.core.job_states import FINISHED
from floe.core.refs import JobRef
from floe.db.lookup import find_job
from floe.db.models import Job
from jobs.serving import Serving, ServingFigures, job_of_token

from .workers import off_loop

STATE_FOR_S = 1.0  # how long a job's state is trusted without asking the database again
MOST_HELD = 10_000  # tokens, and jobs, held in memory at once


@dataclass
class JobView:
    """What a request needs of a serving job, read from the database at most once a second."""

    id: int
    name: str
    mode: str
    state: str
    kept: dict | None  # its request figures as last written down
    read_at: float


class HeldBodies:
    """Bytes of request bodies held for serving jobs, all requests together, within a bound;
    the jobs of one owner at most half of it, so one user's stalled uploads cannot take all
    of it from everyone else."""

    def __init__(self, settings: Serving) -> None:
        self.settings = settings
        self.held = 0
        self.by_owner: dict[str, int] = {}

    def take(self, size: int, owner: str = "") -> bool:
        """Hold ``size`` more bytes for a job of ``owner``, unless that would go past
        ``c.Serving.max_buffered_bytes`` (or half of it for that owner)."""
        most = self.settings.max_buffered_bytes
        theirs = self.by_owner.get(owner, 0)
        share = max(most // 2, self.settings.max_body_bytes)  # one body always fits alone
        if self.held + size > most or theirs + size > share:
            return False
        self.held += size
        self.by_owner[owner] = theirs + size
        return True

    def give_back(self, size: int, owner: str = "") -> None:
        self.held -= size
        left = self.by_owner.get(owner, 0) - size
        if left > 0:
            self.by_owner[owner] = left
        else:
            self.by_owner.pop(owner, None)


class ServingState:
    """The service's memory of serving jobs: the jobs, tokens, figures, bodies held, and the one
    client."""

    def __init__(self, settings: Serving) -> None:
        self.settings = settings
        self.bodies = HeldBodies(settings)
        self.jobs: dict[tuple[str, str, int], JobView] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (job id, trusted until)
        self.figures = ServingFigures()
        self._client: SimpleAsyncHTTPClient | None = None
        self._writing: PeriodicCallback | None = None

    @property
    def client(self) -> SimpleAsyncHTTPClient:
        if self._client is None:  # made on the event loop that serves
            self._client = SimpleAsyncHTTPClient(
                force_instance=True,
                max_clients=self.settings.max_in_flight,
                max_body_size=1 << 40,  # answers stream through; nothing is held whole
            )
        return self._client

    def forget_tokens(self) -> None:
        """Look every token up again (one was revoked)."""
        self.tokens.clear()

    def forget_job(self, job_id: int) -> None:
        """Hold nothing more of a deleted job: its view, its tokens, its figures."""
        self.jobs = {key: view for key, view in self.jobs.items() if view.id != job_id}
        self.tokens = {token: held for token, held in self.tokens.items() if held[0] != job_id}
        self.figures.forget(job_id)

    async def token_job(self, sessions: Any, token: str) -> int | None:
        """The job a serving token is for (None: no such token), trusted for
        ``c.Serving.token_check_s``."""
        held = self.tokens.get(token)
        if held and held[1] > time.monotonic():
            return held[0]
        job_id = await off_loop(_token_job, sessions, token)
        if job_id is not None:
            if len(self.tokens) >= MOST_HELD:
                self.tokens.clear()
            self.tokens[token] = (job_id, time.monotonic() + self.settings.token_check_s)
        return job_id

    async def view(self, sessions: Any, ref: JobRef) -> JobView | None:
        """What a request needs of the job ``ref`` names, read again after ``STATE_FOR_S``
        while it has not ended."""
        key = (ref.owner, ref.project, ref.number)
        view = self.jobs.get(key)
        if view is None or (
            view.state not in FINISHED and time.monotonic() - view.read_at > STATE_FOR_S
        ):
            view = await off_loop(_read_job, sessions, ref)
            if view is None:
                return None
            if len(self.jobs) >= MOST_HELD:
                self.jobs.clear()
            self.jobs[key] = view
        return view

    def keep_writing(self, sessions: Any) -> None:
        if self._writing is None:
            self._writing = PeriodicCallback(
                lambda: self.write_figures(sessions), self.settings.figures_every_s * 1000
            )
            self._writing.start()

    async def write_figures(self, sessions: Any) -> None:
        changed = self.figures.take_changed()
        if changed:
            try:
                await off_loop(_write_figures, sessions, changed)
            except Exception:
                app_log.exception("keeping serving jobs' request figures")


def _write_figures(sessions: Any, changed: dict[int, dict]) -> None:
    with sessions() as db:
        for job_id, figures in changed.items():
            job = db.get(Job, job_id)
            if job is not None:
                job.serving = figures
        db.commit()


def _read_job(sessions: Any, ref: JobRef) -> JobView | None:
    with sessions() as db:
        job = find_job(db, ref, "")
        if job is None:
            return None
        return JobView(job.id, job.full_name, job.mode, job.state, job.serving, time.monotonic())


def _token_job(sessions: Any, token: str) -> int | None:
    with sessions() as db:
        return job_of_token(db, token)
