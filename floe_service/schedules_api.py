"""REST API for schedules: a job run at the times of a cron expression (``jobs.schedules``)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, Field

from floe.core.cron import MAX_LENGTH
from floe.core.refs import ProjectRef, parse_number
from jobs.schedules import (
    add_schedule,
    get_schedule,
    last_job_of,
    list_schedules,
    pause,
    remove,
    schedule_json,
)

from . import schemas
from .jobs_api import JobAPIHandler
from .operations import Route, operation


class NewSchedule(schemas.NewJob):
    """A job's request, and when it runs."""

    cron: str = Field(
        max_length=MAX_LENGTH,
        description="'0 3 * * *' (cron's five fields), '@daily', '@hourly' or '@every 6h'",
    )
    timezone: str | None = Field(None, max_length=64, description="e.g. Europe/Paris; UTC")


class SchedulesQuery(schemas.Query):
    project: str | None = Field(None, description="only this project's")


class Schedule(BaseModel):
    id: int
    name: str = Field(description="owner/project/schedule/ID")
    owner: str
    project: str
    cron: str
    timezone: str
    state: str = Field(description="active or paused")
    paused: bool
    next_run: schemas.Timestamp | None = Field(description="when it runs next (none while paused)")
    last_run: schemas.Timestamp | None
    runs: int = Field(description="times it has fired")
    last_job: str | None = Field(description="the job its last run queued")
    last_job_state: schemas.State | None
    last_error: str | None = Field(description="why its last run queued no job")
    kind: schemas.Kind
    notebook: str | None
    command: str | None
    step: str | None
    environment: str
    machine: str
    datasets: list[str] = Field(description="as written: resolved to versions at each run")
    parameters: dict[str, Any]
    created: schemas.Timestamp
    url: str = Field(description="its project's page")


class ScheduleAPIHandler(JobAPIHandler):
    def schedule_body(self, schedule: Any) -> dict:
        body = schedule_json(schedule, last_job_of(self.db(), schedule))
        body["url"] = f"{self.prefix}projects/{schedule.project.full_name}"
        return body

    def schedule(self, schedule_id: str) -> Any:
        return get_schedule(self.db(), self.caller, parse_number(schedule_id, "a schedule id"))


class SchedulesHandler(ScheduleAPIHandler):
    @operation("Your schedules", query=SchedulesQuery, response=list[Schedule])
    def get(self) -> None:
        project = self.query(SchedulesQuery).project
        found = list_schedules(self.db(), self.caller, project)
        self.send([self.schedule_body(s) for s in found], shape=list[Schedule])

    @operation(
        "Run a job at the times of a cron expression; its datasets resolved at each run",
        ok=201,
        body=NewSchedule,
        response=Schedule,
        errors=(400, 404, 409, 413, 429, 503),
    )
    async def post(self) -> None:
        body = await self.body(NewSchedule)
        await self.caller_in(ProjectRef.parse(body.project).owner)  # a team just made
        add = functools.partial(add_schedule, cron=body.cron, timezone=body.timezone)
        settings = self.settings["schedules"]
        async with self.queueing():
            schedule = await self.off_loop(
                add, self.db(), self.caller, body.job_request(), self.job_context(), settings
            )
        self.send(self.schedule_body(schedule), 201, shape=Schedule)


class ScheduleHandler(ScheduleAPIHandler):
    @operation("A schedule, its next and last run", response=Schedule)
    def get(self, schedule_id: str) -> None:
        self.send(self.schedule_body(self.schedule(schedule_id)), shape=Schedule)

    @operation("Remove a schedule (the jobs it ran stay)", ok=204)
    def delete(self, schedule_id: str) -> None:
        remove(self.db(), self.schedule(schedule_id))
        self.set_status(204)
        self.finish()


class PauseHandler(ScheduleAPIHandler):
    @operation("Pause a schedule: it runs nothing until resumed", response=Schedule)
    def post(self, schedule_id: str) -> None:
        schedule = pause(self.db(), self.schedule(schedule_id), True)
        self.send(self.schedule_body(schedule), shape=Schedule)


class ResumeHandler(ScheduleAPIHandler):
    @operation(
        "Resume a schedule from its next time (what it missed is not made up)",
        response=Schedule,
        errors=(400, 404, 409),
    )
    def post(self, schedule_id: str) -> None:
        schedule = pause(self.db(), self.schedule(schedule_id), False)
        self.send(self.schedule_body(schedule), shape=Schedule)


ROUTES = [
    Route("/schedules", SchedulesHandler),
    Route("/schedules/{schedule_id}", ScheduleHandler),
    Route("/schedules/{schedule_id}/pause", PauseHandler),
    Route("/schedules/{schedule_id}/resume", ResumeHandler),
]
