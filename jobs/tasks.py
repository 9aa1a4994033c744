"""Tasks: one command or notebook run over a grid of parameters (Valohai's task, a sweep).

A sweep names each parameter's values (``{"lr": [0.1, 0.01], "bs": [32, 64]}``); the task is
one ordinary job per combination (the whole grid, or ``random`` of it), sharing one copy of
the code and queued together, of which at most ``parallel`` run at once. Its jobs are then
compared by the last value of every metric, the best of each marked: lower is better for
names like loss or error, higher otherwise, unless the submitter said (``goals``).
"""

from __future__ import annotations

import itertools
import json
import random as random_module
import re
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from floe.core.access import PROJECT, Caller, can_read
from floe.core.errors import InvalidRequest, NotFound
from floe.core.job_states import FINISHED, JobState
from floe.core.refs import TaskRef
from floe.db.base import add_numbered
from floe.db.lookup import find_task
from floe.db.models import RUN, Job, Project, Task
from floe.db.sharing import readable

from .container.parameterize import check_parameters
from .records import add_job, iso, job_json, project_for, set_state
from .submit import JobContext, JobRequest, checking, prepare_job, queueing

MAX_SWEPT = 20  # parameters one sweep may vary
MAX_VALUES = 1000  # values of one parameter
MIN, MAX = "min", "max"
# A metric line's x axis (the job page charts by it), not something to be best at.
AXIS = "step"
# Metrics whose name says lower is better, unless the task's goals say otherwise.
_LOWER_IS_BETTER = re.compile(
    r"loss|err|mse|mae|rmse|perplexity|ppl|latency|time|duration|cost|wer|cer", re.I
)


def check_sweep(value: object) -> dict[str, list]:
    """``{name: [values]}``: Python names, each with 1 to MAX_VALUES distinct JSON values."""
    with checking("sweep"):
        if not isinstance(value, dict) or not value:
            raise InvalidRequest('must name parameters and their values: {"lr": [0.1, 0.01]}')
        if len(value) > MAX_SWEPT:
            raise InvalidRequest(f"sweeps at most {MAX_SWEPT} parameters, not {len(value)}")
        check_parameters(dict.fromkeys(value))
        sweep = {}
        for name, values in value.items():
            if not isinstance(values, list) or not values:
                raise InvalidRequest(f"{name}: must be a non-empty list of values")
            if len(values) > MAX_VALUES:
                raise InvalidRequest(f"{name}: at most {MAX_VALUES} values, not {len(values)}")
            # Each value once (1 and 1.0 are different values to a program).
            seen: set[str] = set()
            sweep[name] = []
            for item in values:
                key = json.dumps(item, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    sweep[name].append(item)
        check_parameters(sweep)  # its values, all together, as small as parameters
        return sweep


def grid_size(sweep: dict[str, list]) -> int:
    size = 1
    for values in sweep.values():
        size *= len(values)
    return size


def combinations(sweep: dict[str, list], sample: int | None, most: int) -> list[dict]:
    """The grid's combinations in order, or ``sample`` of them drawn at random (all of a grid
    no larger); at most ``most`` either way."""
    size = grid_size(sweep)
    names = list(sweep)
    if sample is None:
        if size > most:
            raise InvalidRequest(
                f"sweep: the grid has {size:,} combinations and a task runs at most {most}; "
                f"sample some (random: N, floe run --random N) or sweep fewer values",
                field="sweep",
            )
        grid = itertools.product(*sweep.values())
        return [dict(zip(names, combo, strict=True)) for combo in grid]
    if not 1 <= sample <= most:
        raise InvalidRequest(f"random: from 1 to {most}, not {sample}", field="random")
    rng = random_module.SystemRandom()
    if size <= 2 * sample:
        indices = sorted(rng.sample(range(size), min(sample, size)))
    else:  # too many to list: draw until enough distinct (few draws, since size > 2 * sample)
        chosen: set[int] = set()
        while len(chosen) < sample:
            chosen.add(rng.randrange(size))
        indices = sorted(chosen)
    return [_combination(sweep, names, index) for index in indices]


def _combination(sweep: dict[str, list], names: list[str], index: int) -> dict:
    """The ``index``-th combination of the grid, in ``itertools.product``'s order."""
    combo = {}
    for name in reversed(names):
        index, here = divmod(index, len(sweep[name]))
        combo[name] = sweep[name][here]
    return {name: combo[name] for name in names}


def _goals(value: dict[str, str] | None) -> dict[str, str]:
    """``goals`` as the request's shape allowed them (metric names to "min" or "max"), held
    within bounds."""
    with checking("goals"):
        if value is None:
            return {}
        if len(value) > 100:
            raise InvalidRequest('must map metric names to "min" or "max", e.g. {"loss": "min"}')
        for name in value:
            if not name or len(name) > 200:
                raise InvalidRequest(f'{name!r}: say "min" or "max" for a metric name')
        return dict(value)


def submit_task(
    db: Session,
    caller: Caller,
    request: JobRequest,
    ctx: JobContext,
    *,
    sweep: object,
    random: int | None = None,
    parallel: int | None = None,
    goals: dict[str, str] | None = None,
) -> Task:
    """Check ``request`` and the grid its jobs ``sweep`` (all of it, or ``random``
    combinations of it; at most ``parallel`` at once; ``goals`` say which way each metric is
    best), keep its code once and queue one job per combination, all of one new task."""
    sweep = check_sweep(sweep)
    goals = _goals(goals)
    combos = combinations(sweep, random, ctx.limits.max_task_jobs)
    kind = request.kind
    if kind == "snapshot" or request.mode != RUN:
        raise InvalidRequest(
            "kind: a task runs a notebook or a command to its end; snapshots and serving "
            "jobs are one of a kind",
            field="kind" if kind == "snapshot" else "mode",
        )
    base = request.parameters or {}
    with queueing.hold(caller.name):
        prepared = prepare_job(db, caller, request, ctx, count=len(combos))
        db.commit()  # the trees first (see submit_job)
        project = project_for(db, caller, prepared.project)
        project_id = project.id

        def numbered(number: int) -> Task:
            return Task(
                project_id=project_id,
                number=number,
                owner=project.owner,
                submitted_by=caller.name,
                sweep=sweep,
                random=random,
                parallel=parallel,
                goals=goals,
                message=prepared.fields["message"],
            )

        task = add_numbered(
            db,
            Task.number,
            Task.project_id == project_id,
            Project.last_task_number,
            lambda: db.get(Project, project_id),
            numbered,
            f"too many concurrent sweeps of {project.full_name}; retry",
        )
        db.commit()
        for combo in combos:
            job = prepared.job(parameters={**base, **combo}, task_id=task.id)
            add_job(db, job, project)
            set_state(db, job, JobState.QUEUED)
        return task


def get_task(db: Session, caller: Caller, ref: str) -> Task:
    """A task by id or ``[owner/]project/task/N``; NotFound if the caller may not see it."""
    task = find_task(db, TaskRef.parse(ref), caller.name)
    if task is None or not can_read(caller, task):
        raise NotFound(f"no task {ref} that you can see")
    return task


def list_tasks(db: Session, caller: Caller, project: str | None, limit: int) -> list[Task]:
    query = select(Task).join(Project).order_by(Task.id.desc()).limit(limit)
    query = query.where(readable(caller, PROJECT, Project.owner, Project.name))
    if project:
        query = query.where(Project.name == project)
    return list(db.scalars(query))


def task_jobs(db: Session, task: Task) -> list[Job]:
    return list(db.scalars(select(Job).where(Job.task_id == task.id).order_by(Job.id)))


def stop_task(db: Session, caller: Caller, task: Task, stop_job: object) -> list[int]:
    """Mark the task stopped by ``caller`` and stop each job not finished with
    ``stop_job(job_id, by)``; the ids stopped."""
    ids = [j.id for j in task_jobs(db, task) if j.state not in FINISHED]
    if ids and not task.stop_requested_by:  # a finished task keeps the state it ended in
        task.stop_requested_by = caller.name
        db.commit()
    for job_id in ids:
        stop_job(job_id, caller.name)
    return ids


def goal_of(metric: str, goals: dict[str, str]) -> str:
    """Which way ``metric`` is best: as the task says, else by its name."""
    return goals.get(metric) or (MIN if _LOWER_IS_BETTER.search(metric) else MAX)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def best_per_metric(jobs: list[Job], goals: dict[str, str]) -> dict[str, dict]:
    """Per metric any job reported: its goal and the job with the best last value."""
    last_values = ((k, v) for j in jobs for k, v in (j.metrics_last or {}).items())
    keys = sorted({k for k, v in last_values if _number(v) and k != AXIS})
    best = {}
    for key in keys:
        goal = goal_of(key, goals)
        last = [((j.metrics_last or {}).get(key), j) for j in jobs]
        scored = [(value, j) for value, j in last if _number(value)]
        value, job = (min if goal == MIN else max)(scored, key=lambda pair: pair[0])
        best[key] = {"goal": goal, "job": job.full_name, "job_id": job.id, "value": value}
    return best


def task_state(task: Task, counts: Counter) -> str:
    """One word for the task: queued or running while any job is; then complete when every
    job is, stopped when it was stopped, error when any job failed."""
    if counts[JobState.STARTING] or counts[JobState.RUNNING]:
        return JobState.RUNNING
    if sum(n for state, n in counts.items() if state not in FINISHED):
        return JobState.RUNNING if sum(counts[s] for s in FINISHED) else JobState.QUEUED
    if counts[JobState.COMPLETE] == sum(counts.values()):
        return JobState.COMPLETE
    if task.stop_requested_by or not counts[JobState.ERROR]:
        return JobState.STOPPED
    return JobState.ERROR


def task_json(task: Task, jobs: list[Job], *, detail: bool = True) -> dict:
    counts = Counter(j.state for j in jobs)
    body = {
        "id": task.id,
        "name": task.full_name,
        "owner": task.owner,
        "project": task.project.name,
        "number": task.number,
        "state": task_state(task, counts),
        "counts": dict(counts),
        "job_count": len(jobs),
        "sweep": task.sweep,
        "random": task.random,
        "parallel": task.parallel,
        "goals": task.goals,
        "message": task.message,
        "created": iso(task.created),
        "stop_requested_by": task.stop_requested_by or None,
    }
    if detail:
        body["jobs"] = [
            {**_brief(job_json(j)), "metrics": dict(j.metrics_last or {})} for j in jobs
        ]
        body["best"] = best_per_metric(jobs, task.goals)
    return body


def _brief(job: dict) -> dict:
    keep = ("id", "name", "number", "state", "reason", "parameters", "created", "started")
    return {k: job[k] for k in (*keep, "finished")}
