"""Which queued jobs start next: fair between users, within each user's share.

A user's hundred queued jobs never delay another user's first: the next job to start is the
oldest of the user with the fewest jobs running, and nobody runs more than their share at
once (``JobRunner.max_running_per_user``, and per machine type), nor a task more of its jobs
than it asked for (``--parallel``). The runner gives it what is queued and running, and a
way to start one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Waiting:
    id: int
    owner: str
    machine: str
    task: int | None = None  # the task it is one of
    parallel: int | None = None  # how many of that task's jobs may run at once


@dataclass(frozen=True)
class Running:
    owner: str
    machine: str
    task: int | None = None


@dataclass(frozen=True)
class Shares:
    """How many jobs may run at once: on this node, per user, per user on a machine type."""

    total: int
    per_user: int
    per_user_machine: dict[str, int]

    def held_back(self, job: Waiting, running: Counter, running_on: Counter) -> str:
        """Why ``job`` must wait for its owner's share or its task's ("" if it need not).
        ``running`` counts jobs running by owner and by ``("task", id)``."""
        if job.task is not None and job.parallel and running["task", job.task] >= job.parallel:
            return f"its task runs {job.parallel} job(s) at once, the most it asked for"
        if running[job.owner] >= self.per_user:
            return f"{job.owner} has {self.per_user} job(s) running, the most one user may run"
        most = self.per_user_machine.get(job.machine)
        if most is not None and running_on[job.owner, job.machine] >= most:
            return (
                f"{job.owner} has {most} job(s) running on '{job.machine}', the most one user "
                "may run there"
            )
        return ""


def start_fairly(
    queued: list[Waiting],
    running: list[Running],
    shares: Shares,
    start: Callable[[Waiting], bool],
) -> dict[int, str]:
    """Start queued jobs while there is room, fairly: each time the oldest job of the user with
    the fewest running. ``running`` holds each running job; ``start`` starts one and says
    whether it did (a GPU job may find none free). Returns why each job held back for its
    owner's share (or its task's) waits.
    """
    by_user: Counter = Counter(r.owner for r in running)
    by_user.update(("task", r.task) for r in running if r.task is not None)
    by_machine: Counter = Counter((r.owner, r.machine) for r in running)
    active = len(running)
    waits: dict[int, str] = {}
    pending = sorted(queued, key=lambda job: job.id)
    while pending and active < shares.total:
        eligible = []
        for job in pending:
            why = shares.held_back(job, by_user, by_machine)
            if why:
                waits[job.id] = why
            else:
                eligible.append(job)
        if not eligible:
            break
        job = min(eligible, key=lambda j: (by_user[j.owner], j.id))
        pending.remove(job)
        waits.pop(job.id, None)
        if start(job):
            by_user[job.owner] += 1
            if job.task is not None:
                by_user["task", job.task] += 1
            by_machine[job.owner, job.machine] += 1
            active += 1
    return waits
