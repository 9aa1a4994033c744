"""REST API for tasks: a sweep of one command or notebook over a grid of parameters, its jobs
compared by their metrics, stopped together (``jobs.tasks``)."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from floe.core.access import check_may_stop
from floe.core.refs import MAX_NUMBER, ProjectRef
from jobs.tasks import (
    MAX_VALUES,
    get_task,
    list_tasks,
    stop_task,
    submit_task,
    task_jobs,
    task_json,
)

from . import schemas
from .jobs_api import JobAPIHandler
from .operations import Route, operation
from .workers import off_loop


class NewTask(schemas.NewJob):
    """A job's request, and the grid of parameters its jobs sweep."""

    sweep: dict[str, list[Any]] = Field(
        description='each swept parameter\'s values, e.g. {"lr": [0.1, 0.01], "bs": [32, 64]}'
    )
    random: Annotated[int, Field(ge=1, le=MAX_NUMBER), schemas.WHOLE] | None = Field(
        None, description="run this many combinations drawn at random"
    )
    parallel: Annotated[int, Field(ge=1, le=MAX_VALUES), schemas.WHOLE] | None = Field(
        None, description="at most this many of its jobs run at once"
    )
    goals: dict[str, Literal["min", "max"]] | None = Field(
        None, description="which way each metric is best (default: min for loss, error, time…)"
    )


class TaskJob(BaseModel):
    id: int
    name: str
    number: int
    state: schemas.State
    reason: str
    parameters: dict[str, Any]
    metrics: dict[str, Any] = Field(description="the last value of each metric")
    created: schemas.Timestamp
    started: schemas.Timestamp | None
    finished: schemas.Timestamp | None


class Best(BaseModel):
    goal: Literal["min", "max"]
    job: str
    job_id: int
    value: int | float


class TaskSummary(BaseModel):
    id: int
    name: str = Field(description="owner/project/task/N")
    owner: str
    project: str
    number: int
    state: str = Field(description="queued, running, complete, error or stopped")
    counts: dict[str, int] = Field(description="its jobs by state")
    job_count: int
    sweep: dict[str, list[Any]]
    random: int | None
    parallel: int | None
    goals: dict[str, str]
    message: str
    created: schemas.Timestamp
    stop_requested_by: str | None
    url: str = Field(description="the task's page")


class Task(TaskSummary):
    jobs: list[TaskJob]
    best: dict[str, Best] = Field(description="per metric, the job with the best last value")


class TasksQuery(schemas.Query):
    project: str | None = Field(None, description="only this project's")
    limit: int = Field(50, ge=1, le=1000)


class TaskAPIHandler(JobAPIHandler):
    def task_body(self, task: Any, *, detail: bool = True) -> dict:
        body = task_json(task, task_jobs(self.db(), task), detail=detail)
        body["url"] = f"{self.prefix}tasks/{task.id}"
        return body


class TasksHandler(TaskAPIHandler):
    @operation("Your tasks, newest first", query=TasksQuery, response=list[TaskSummary])
    def get(self) -> None:
        query = self.query(TasksQuery)
        found = list_tasks(self.db(), self.caller, query.project, query.limit)
        answer = [self.task_body(t, detail=False) for t in found]
        self.send(answer, shape=list[TaskSummary])

    @operation(
        "Sweep parameters: one job per combination of the grid (or random of them), one task",
        ok=201,
        body=NewTask,
        response=Task,
        errors=(400, 404, 409, 413, 429, 503),
    )
    async def post(self) -> None:
        body = await self.body(NewTask)
        await self.caller_in(ProjectRef.parse(body.project).owner)  # a team just made
        submit = functools.partial(
            submit_task,
            sweep=body.sweep,
            random=body.random,
            parallel=body.parallel,
            goals=body.goals,
        )
        async with self.queueing():
            task = await self.off_loop(
                submit, self.db(), self.caller, body.job_request(), self.job_context()
            )
        self.runner.wake()
        self.send(self.task_body(task), 201, shape=Task)


class TaskHandler(TaskAPIHandler):
    @operation(
        "A task (id or owner/project/task/N) with its jobs and the best per metric", response=Task
    )
    def get(self, ref: str) -> None:
        self.send(self.task_body(get_task(self.db(), self.caller, ref)), shape=Task)


class TaskStopHandler(TaskAPIHandler):
    @operation("Stop every job of a task not yet finished", ok=202, response=Task)
    async def post(self, ref: str) -> None:
        db = self.db()
        task = get_task(db, self.caller, ref)
        check_may_stop(self.caller, task)
        await off_loop(stop_task, db, self.caller, task, self.runner.stop)
        db.expire_all()
        self.send(self.task_body(task), 202, shape=Task)


ROUTES = [
    Route("/tasks", TasksHandler),
    Route("/tasks/{task}", TaskHandler),
    Route("/tasks/{task}/stop", TaskStopHandler),
]
