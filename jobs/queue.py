"""Which queued jobs start next: fair between teams, then between users within each team.

A job belongs to its **owner** (a user, or a team: a hub group) and was run by a **user**
(``submitted_by``; for a user's own job, the owner). A user's own work is a team of one.

- One owner's hundred queued jobs never delay another's first: the next job to start is the
  oldest of the owner with the fewest jobs running, and within an owner, of the user with
  the fewest running.
- A team may be given a **share** of a machine type (``TeamSettings.shares``: a fraction of
  what the node runs of it at once). A team below its share of a job's machine type goes
  first, then owners with no share, then teams at or past theirs: a team at its GPU share
  waits while another team below its share starts, and nothing stays idle while only teams
  past their share wait.
- Nobody runs more than their limits at once: per user (``JobLimits.max_running_per_user``,
  and per machine type), per team (``TeamSettings.max_running`` and ``max_gpus``), nor a
  task more of its jobs than it asked for (``--parallel``).

The runner gives it what is queued and running, and a way to start one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

BELOW_SHARE, NO_SHARE, AT_SHARE = 0, 1, 2


@dataclass(frozen=True)
class Waiting:
    id: int
    owner: str
    machine: str
    task: int | None = None  # the task it is one of
    parallel: int | None = None  # how many of that task's jobs may run at once
    user: str = ""  # who ran it ("": the owner)
    gpus: int = 0

    @property
    def runner(self) -> str:
        return self.user or self.owner


@dataclass(frozen=True)
class Running:
    owner: str
    machine: str
    task: int | None = None
    user: str = ""
    gpus: int = 0

    @property
    def runner(self) -> str:
        return self.user or self.owner


@dataclass(frozen=True)
class TeamLimits:
    """What an admin set for one team (None: no limit of its own)."""

    max_running: int | None = None
    max_gpus: int | None = None
    # {machine slug: jobs of that type the team is owed at once (its share times what the
    # node runs of that type at once)}.
    owed: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Shares:
    """How many jobs may run at once: on this node, per user, per user on a machine type; and
    each team's limits and shares."""

    total: int
    per_user: int
    per_user_machine: dict[str, int]
    teams: dict[str, TeamLimits] = field(default_factory=dict)

    def held_back(self, job: Waiting, counts: Counts) -> str:
        """Why ``job`` must wait for a limit ("" if it need not)."""
        if job.task is not None and job.parallel and counts.tasks[job.task] >= job.parallel:
            return f"its task runs {job.parallel} job(s) at once, the most it asked for"
        user = job.runner
        if counts.users[user] >= self.per_user:
            return f"{user} has {self.per_user} job(s) running, the most one user may run"
        most = self.per_user_machine.get(job.machine)
        if most is not None and counts.user_machines[user, job.machine] >= most:
            return (
                f"{user} has {most} job(s) running on '{job.machine}', the most one user "
                "may run there"
            )
        team = self.teams.get(job.owner)
        if team is None:
            return ""
        if team.max_running is not None and counts.owners[job.owner] >= team.max_running:
            return (
                f"team {job.owner} has {team.max_running} job(s) running, the most it may run "
                f"at once (`floe team show {job.owner}`)"
            )
        if job.gpus and team.max_gpus is not None:
            used = counts.owner_gpus[job.owner]
            if used + job.gpus > team.max_gpus:
                return (
                    f"team {job.owner} uses {used} of the {team.max_gpus} GPU(s) it may use at "
                    f"once; this job needs {job.gpus} (`floe team show {job.owner}`)"
                )
        return ""

    def tier(self, job: Waiting, counts: Counts) -> int:
        """Whether ``job``'s owner is below its share of the job's machine type, has none, or
        is at or past it."""
        team = self.teams.get(job.owner)
        owed = team.owed.get(job.machine) if team else None
        if owed is None:
            return NO_SHARE
        return BELOW_SHARE if counts.owner_machines[job.owner, job.machine] < owed else AT_SHARE


@dataclass
class Counts:
    """What runs, counted every way the queue asks."""

    owners: Counter = field(default_factory=Counter)
    users: Counter = field(default_factory=Counter)
    tasks: Counter = field(default_factory=Counter)
    user_machines: Counter = field(default_factory=Counter)
    owner_machines: Counter = field(default_factory=Counter)
    owner_gpus: Counter = field(default_factory=Counter)
    active: int = 0

    def add(self, job: Waiting | Running) -> None:
        self.owners[job.owner] += 1
        self.users[job.runner] += 1
        if job.task is not None:
            self.tasks[job.task] += 1
        self.user_machines[job.runner, job.machine] += 1
        self.owner_machines[job.owner, job.machine] += 1
        self.owner_gpus[job.owner] += job.gpus
        self.active += 1


def start_fairly(
    queued: list[Waiting],
    running: list[Running],
    shares: Shares,
    start: Callable[[Waiting], bool],
) -> dict[int, str]:
    """Start queued jobs while there is room, fairly: each time, of the jobs no limit holds
    back, the one first by (its owner's tier, its owner's jobs running, its user's jobs
    running, age). ``start`` starts one and says whether it did (a GPU job may find none
    free). Returns why each job held back by a limit, or behind others for its team's share,
    waits."""
    counts = Counts()
    for job in running:
        counts.add(job)
    waits: dict[int, str] = {}
    pending = sorted(queued, key=lambda job: job.id)
    while pending and counts.active < shares.total:
        eligible = []
        for job in pending:
            why = shares.held_back(job, counts)
            if why:
                waits[job.id] = why
            else:
                eligible.append(job)
        if not eligible:
            break
        job = min(
            eligible,
            key=lambda j: (
                shares.tier(j, counts),
                counts.owners[j.owner],
                counts.users[j.runner],
                j.id,
            ),
        )
        pending.remove(job)
        waits.pop(job.id, None)
        if start(job):
            counts.add(job)
    for job in pending:
        if job.id not in waits and shares.tier(job, counts) == AT_SHARE:
            waits[job.id] = (
                f"team {job.owner} runs its share of '{job.machine}'; teams below their "
                "share start first"
            )
    return waits
