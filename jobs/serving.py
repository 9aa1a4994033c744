"""Serving jobs (FloydHub's serve mode): a job that answers requests on ``$PORT`` until stopped,
reached through the floe service at a stable URL, and only with a token.

Here is what the runner and the service share: ``c.Serving`` (the port, how long a request
may take, how many may be in flight), the tokens the owner makes and revokes (kept as their
SHA-256 only: a token is shown once, when made), and the request figures the job's page shows.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from floe.core.access import Caller, can_write
from floe.core.errors import Forbidden, InvalidRequest, NotFound, TooManyRequests
from floe.core.times import rfc3339
from floe.db.models import SERVE, Job, ServingToken

# Every serving token starts so: the service tells it from a hub token at a glance.
TOKEN_PREFIX = "floe_serve_"
MAX_TOKENS_PER_JOB = 20
MAX_TOKEN_NAME = 100
# Request times kept per job for its median and 99th percentile.
LATENCY_SAMPLES = 2000


class Serving(LoggingConfigurable):
    """How serving jobs are reached (``floe run --mode serve``)."""

    port = Integer(
        8080,
        config=True,
        help="The port a serving job listens on inside its container (its $PORT).",
    )
    request_timeout = Float(
        300,
        config=True,
        help="Seconds a request to a serving job may take, its answer included, before the "
        "caller gets 504.",
    )
    connect_timeout = Float(
        5, config=True, help="Seconds to reach a serving job's port before the caller gets 503."
    )
    max_in_flight = Integer(
        256,
        config=True,
        help="Requests to serving jobs forwarded at once, all jobs together; more wait their turn.",
    )
    max_body_bytes = Integer(
        64 * 1024**2,
        config=True,
        help="Bytes a request to a serving job may carry; a larger one gets 413.",
    )
    max_buffered_bytes = Integer(
        256 * 1024**2,
        config=True,
        help="""Bytes of request bodies to serving jobs the service holds in memory at once,
        all requests together (each is held until it is sent on); the jobs of one owner at
        most half of it (or max_body_bytes, if more). A request whose body would go past
        either gets 503 with Retry-After. Keep it above max_body_bytes (a larger body never
        fits); e.g. 1024**3 for 1 GiB.""",
    )
    figures_every_s = Float(
        5,
        config=True,
        help="Seconds between writes of serving jobs' request counts and times to the database.",
    )
    token_check_s = Float(
        5,
        config=True,
        help="Seconds a serving token, once found in the database, is trusted without looking "
        "again (a token revoked through this service stops working at once).",
    )


def serve_path(prefix: str, job: Job) -> str:
    """Where a serving job answers, under the service's prefix (a stable URL: its name)."""
    return f"{prefix}serve/{job.full_name}/"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_json(row: ServingToken) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_by": row.created_by,
        "created": rfc3339(row.created),
    }


def _serving_job(job: Job) -> None:
    if job.mode != SERVE:
        raise InvalidRequest(
            f"{job.full_name} is not a serving job; serving tokens are for jobs run with "
            "--mode serve"
        )


def _owner_only(caller: Caller, job: Job) -> None:
    """A token is given by whoever ran the job (a team's: while a member) or, for a team's
    job, by its maintainers; an admin gives none (they revoke a leaked one)."""
    ran = job.runner == caller.name and can_write(caller, job)
    if not (ran or job.owner in caller.maintains):
        raise Forbidden(
            f"only whoever ran {job.full_name} (or {job.owner}'s maintainers) makes tokens for it"
        )


def make_token(db: Session, caller: Caller, job: Job, name: str) -> tuple[ServingToken, str]:
    """A new token for ``job`` (its owner's to give); the token itself is returned only here."""
    _serving_job(job)
    _owner_only(caller, job)
    name = name.strip()
    if len(name) > MAX_TOKEN_NAME:
        raise InvalidRequest(f"name: at most {MAX_TOKEN_NAME} characters", field="name")
    if len(tokens_of(db, job)) >= MAX_TOKENS_PER_JOB:
        raise TooManyRequests(
            f"{job.full_name} has {MAX_TOKENS_PER_JOB} tokens, the most one job may have; "
            "revoke one first"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ServingToken(
        job_id=job.id,
        name=name,
        digest=_digest(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        created_by=caller.name,
    )
    db.add(row)
    db.commit()
    return row, token


def tokens_of(db: Session, job: Job) -> list[ServingToken]:
    query = select(ServingToken).where(ServingToken.job_id == job.id).order_by(ServingToken.id)
    return list(db.scalars(query))


def revoke_token(db: Session, caller: Caller, token_id: int) -> None:
    """Revoke a token: its job's owner does, or an admin who must end a leak."""
    row = db.get(ServingToken, token_id)
    job = db.get(Job, row.job_id) if row is not None else None
    if job is None or not can_write(caller, job):
        raise NotFound(f"no serving token {token_id} of yours")
    db.delete(row)
    db.commit()


def job_of_token(db: Session, token: str) -> int | None:
    """The id of the job ``token`` serves, or None for no such token."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return db.scalar(select(ServingToken.job_id).where(ServingToken.digest == _digest(token)))


@dataclass
class JobFigures:
    """One serving job's requests: counted on from what was kept, times of the latest ones."""

    requests: int = 0
    errors: int = 0
    last: float | None = None
    times: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    changed: bool = False

    def summary(self) -> dict:
        ordered = sorted(self.times)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": _ms(_quantile(ordered, 0.5)),
            "p99_ms": _ms(_quantile(ordered, 0.99)),
            "last": self.last,
        }


class ServingFigures:
    """Request counts and times of serving jobs, kept in memory on the event loop and written
    into ``Job.serving`` every few seconds, so they outlive a restart of the service (the
    times of the latest requests aside)."""

    def __init__(self) -> None:
        self.jobs: dict[int, JobFigures] = {}

    def count(self, job_id: int, kept: dict | None, seconds: float, failed: bool) -> None:
        figures = self.jobs.get(job_id)
        if figures is None:
            kept = kept or {}
            figures = JobFigures(kept.get("requests", 0), kept.get("errors", 0), kept.get("last"))
            self.jobs[job_id] = figures
        figures.requests += 1
        figures.errors += failed
        figures.last = time.time()
        figures.times.append(seconds)
        figures.changed = True

    def of(self, job_id: int, kept: dict | None) -> dict:
        """The job's figures: this run's when it has answered since the service started."""
        figures = self.jobs.get(job_id)
        if figures is not None:
            return figures.summary()
        return {**EMPTY, **(kept or {})}

    def take_changed(self) -> dict[int, dict]:
        """The figures of jobs that answered since the last call, to be written down."""
        found = {}
        for job_id, figures in self.jobs.items():
            if figures.changed:
                figures.changed = False
                found[job_id] = figures.summary()
        return found

    def forget(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)


EMPTY = {"requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None, "last": None}


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
