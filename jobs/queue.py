"""Which queued jobs start next: fair between users, within each user's share.

A user's hundred queued jobs never delay another user's first: the next job to start is the
oldest of the user with the fewest jobs running, and nobody runs more than their share at
once (``JobRunner.max_running_per_user``, and per machine type). The runner gives it what
is queued and running, and a way to start one.
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


@dataclass(frozen=True)
class Shares:
    """How many jobs may run at once: on this node, per user, per user on a machine type."""

    total: int
    per_user: int
    per_user_machine: dict[str, int]

    def held_back(self, job: Waiting, running: Counter, running_on: Counter) -> str:
        """Why ``job`` must wait for its owner's share ("" if it need not)."""
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
    running: list[tuple[str, str]],
    shares: Shares,
    start: Callable[[Waiting], bool],
) -> dict[int, str]:
    """Start queued jobs while there is room, fairly: each time the oldest job of the user with
    the fewest running. ``running`` holds ``(owner, machine)`` of each running job; ``start``
    starts one and says whether it did (a GPU job may find none free). Returns why each job
    held back for its owner's share waits.
    """
    by_user: Counter = Counter(owner for owner, _machine in running)
    by_machine: Counter = Counter(running)
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
            by_machine[job.owner, job.machine] += 1
            active += 1
    return waits
