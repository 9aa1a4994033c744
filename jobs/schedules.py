"""Schedules: a job run at the times of a cron expression (Jupyter's scheduler, SageMaker's
and Valohai's triggers), on the same jobs as every other.

A schedule keeps its job's code once, when made, and the datasets as its owner wrote them:
each run resolves them again, so ``mnist`` mounts the latest version of the moment (the job
records which). Its next time is kept in the database: schedules outlive restarts, and the
runs missed while Floe was down are made up once, not once per missed time. A run that
cannot be queued (a dataset gone, the queue full) is noted on the schedule, which goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from floe.core.access import Caller, can_write
from floe.core.cron import Cron
from floe.core.errors import Conflict, FloeUserError, InvalidRequest, NotFound, TooManyRequests
from floe.core.refs import ProjectRef
from floe.db.accounts import is_retired
from floe.db.base import aware, utcnow
from floe.db.models import RUN, Job, Project, Schedule

from .records import iso, project_for, project_owner
from .submit import JobContext, JobRequest, Prepared, prepare_job, queue_again, queueing


class Schedules(LoggingConfigurable):
    """How often schedules are looked at, how often they may fire, how many one user keeps."""

    check_every_s = Float(
        15.0,
        config=True,
        help="""Seconds between looks for schedules that are due. Cron's finest step is a
        minute, so a schedule fires within this long of its time.""",
    )
    min_interval_s = Integer(
        60,
        config=True,
        help="""The shortest time a schedule may wait between runs (cron's finest is a
        minute; '@every 10s' is refused unless this allows it).""",
    )
    max_per_user = Integer(
        50, config=True, help="Schedules one user may keep; one more is refused (429)."
    )

    def __init__(
        self,
        sessions: sessionmaker,
        context: Callable[[], JobContext],
        wake: Callable[[], None],
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.sessions = sessions
        self.context = context
        self.wake = wake
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="floe-schedules", daemon=True).start()

    def close(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if run_due(self.sessions, self.context(), utcnow()):
                    self.wake()
            except Exception:
                self.log.exception("schedules")
            self._stop.wait(self.check_every_s)


def add_schedule(
    db: Session,
    caller: Caller,
    request: JobRequest,
    ctx: JobContext,
    settings: Schedules,
    *,
    cron: str,
    timezone: str | None = None,
) -> Schedule:
    """Check ``request`` and its times (``cron`` in ``timezone``), keep its code and make the
    schedule; its first run is at the first time the expression allows."""
    times = Cron.parse(cron, timezone, settings.min_interval_s)
    kind = request.kind
    if kind == "snapshot" or request.mode != RUN:
        raise InvalidRequest(
            "kind: a schedule runs a notebook or a command to its end, at each of its times",
            field="kind" if kind == "snapshot" else "mode",
        )
    kept = db.scalar(select(func.count(Schedule.id)).where(made_by(caller.name)))
    if kept >= settings.max_per_user:
        raise TooManyRequests(
            f"you keep {kept} schedules, the most one user may; remove one (floe schedule rm)"
        )
    with queueing.hold(caller.name):
        prepared = prepare_job(db, caller, request, ctx, count=0)
    db.commit()  # the trees first (see submit_job)
    _check_runs_as_owner(ctx, caller, prepared)
    project = project_for(db, caller, prepared.project)
    now = utcnow()
    template = {k: v for k, v in prepared.fields.items() if k != "datasets"}
    # A schedule of a team's project is the team's: it runs as the team, whoever made it.
    schedule = Schedule(
        owner=project.owner,
        submitted_by=caller.name,
        project_id=project.id,
        cron=times.text,
        timezone=times.timezone,
        template=template,
        data=list(request.datasets or []),
        next_run=times.next_after(now, anchor=now),
        created=now,
    )
    db.add(schedule)
    db.commit()
    return schedule


def _check_runs_as_owner(ctx: JobContext, caller: Caller, prepared: Prepared) -> None:
    """A schedule runs as its project's owner (``_run``): a user's, without their teams. A
    team's machine type or environment, which the caller may use now, is refused for a
    schedule of their own project at once, rather than at each of its runs."""
    owner = project_owner(caller, prepared.project)
    runs_as = Caller(owner)
    for noun, entry in (
        ("machine", ctx.catalog.machine_by_slug(prepared.fields["machine"])),
        ("environment", ctx.catalog.environment_by_slug(prepared.fields["environment"])),
    ):
        if entry is not None and not entry.open_to(runs_as):
            teams = sorted(set(entry.teams) & caller.teams) or sorted(entry.teams)
            name = ProjectRef.parse(prepared.project).name
            raise InvalidRequest(
                f"{noun}: '{entry.slug}' is for members of {', '.join(teams)}, and a schedule "
                f"of {owner}/{name} runs as {owner}, with no team: make it in a project of "
                f"the team's ({teams[0]}/{name})",
                field=noun,
            )


def _cron(schedule: Schedule) -> Cron:
    # Checked when made; the minimum interval was the deployer's then.
    return Cron.parse(schedule.cron, schedule.timezone, min_interval_s=0)


def next_time(schedule: Schedule, now: datetime) -> datetime | None:
    return _cron(schedule).next_after(now, anchor=aware(schedule.created))


def run_due(sessions: sessionmaker, ctx: JobContext, now: datetime) -> int:
    """Queue a job of every schedule due at ``now``; how many were queued. Each schedule is
    claimed by moving its next time on first, so two services never both run one time."""
    queued = 0
    with sessions() as db:
        due = db.scalars(
            select(Schedule).where(Schedule.paused.is_(False), Schedule.next_run <= now)
        )
        for schedule in list(due):
            # Not if paused since it was read (by its owner, or as its owner's account retired).
            claimed = db.execute(
                update(Schedule)
                .where(
                    Schedule.id == schedule.id,
                    Schedule.runs == schedule.runs,
                    Schedule.paused.is_(False),
                )
                .values(next_run=next_time(schedule, now), runs=schedule.runs + 1, last_run=now)
            )
            db.commit()
            if claimed.rowcount != 1:
                continue  # run by another service a moment ago
            db.refresh(schedule)
            queued += _run(db, schedule, ctx)
    return queued


def _run(db: Session, schedule: Schedule, ctx: JobContext) -> int:
    caller = Caller(schedule.owner)  # a schedule reads what its owner owns, or what is public
    try:
        with queueing.hold(schedule.owner):
            if not _still_theirs(db, schedule, caller):
                db.rollback()
                return 0
            job = queue_again(
                db,
                caller,
                schedule.project,
                schedule.template,
                _request(schedule),
                ctx,
                schedule_id=schedule.id,
                message=schedule.template.get("message") or f"scheduled: {schedule.cron}",
            )
    except FloeUserError as err:
        db.rollback()
        schedule.last_error = err.message
        db.commit()
        return 0
    schedule.last_job_id = job.id
    schedule.last_error = ""
    db.commit()
    return 1


def _request(schedule: Schedule) -> JobRequest:
    """What a run asks to be resolved, from the schedule's row: its datasets as its owner
    wrote them."""
    template = schedule.template
    return JobRequest(
        project=schedule.project.name,
        kind=template["kind"],
        environment=template["environment"],
        machine=template["machine"],
        datasets=list(schedule.data),
    )


def made_by(user: str) -> ColumnElement:
    """Schedules ``user`` made: in their own projects and their teams' alike."""
    return or_(
        Schedule.submitted_by == user,
        and_(Schedule.submitted_by == "", Schedule.owner == user),
    )


def _still_theirs(db: Session, schedule: Schedule, caller: Caller) -> bool:
    """Whether the schedule is still ``caller``'s and not paused, asked by a write to its row,
    held until the job is queued: an account retired meanwhile (``floe.db.accounts``) either
    retired the schedule first, or waits for the job and then retires it with the rest."""
    held = db.execute(
        update(Schedule)
        .where(
            Schedule.id == schedule.id,
            Schedule.owner == caller.name,
            Schedule.paused.is_(False),
        )
        .values(last_run=schedule.last_run)
    )
    return held.rowcount == 1


def get_schedule(db: Session, caller: Caller, schedule_id: int) -> Schedule:
    schedule = db.get(Schedule, schedule_id)
    if schedule is None or not can_write(caller, schedule):
        raise NotFound(f"no schedule {schedule_id} that you can see")
    return schedule


def list_schedules(db: Session, caller: Caller, project: str | None = None) -> list[Schedule]:
    query = select(Schedule).join(Project).order_by(Schedule.id)
    if not caller.admin:
        query = query.where(Schedule.owner.in_(sorted(caller.owners)))
    if project:
        query = query.where(Project.name == project)
    return list(db.scalars(query))


def pause(db: Session, schedule: Schedule, paused: bool) -> Schedule:
    """Pause a schedule, or resume it: from the next time after now (a paused schedule's
    times are not made up). A retired account's stays paused: it would run for nobody."""
    if not paused and is_retired(schedule.owner):
        raise Conflict(
            f"{schedule.owner}'s account was deleted: its schedules stay paused (remove it, "
            "or make a schedule of your own)"
        )
    if schedule.paused != paused:
        schedule.paused = paused
        if not paused:
            schedule.next_run = next_time(schedule, utcnow())
        db.commit()
    return schedule


def remove(db: Session, schedule: Schedule) -> None:
    """The schedule goes; the jobs it ran stay (they know its id)."""
    db.delete(schedule)
    db.commit()


def schedule_json(schedule: Schedule, last_job: Job | None) -> dict:
    template = schedule.template
    return {
        "id": schedule.id,
        "name": f"{schedule.project.full_name}/schedule/{schedule.id}",
        "owner": schedule.owner,
        "project": schedule.project.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "state": "paused" if schedule.paused else "active",
        "paused": schedule.paused,
        "next_run": None if schedule.paused else iso(aware(schedule.next_run)),
        "last_run": iso(aware(schedule.last_run)) if schedule.last_run else None,
        "runs": schedule.runs,
        "last_job": last_job.full_name if last_job else None,
        "last_job_state": last_job.state if last_job else None,
        "last_error": schedule.last_error or None,
        "kind": template["kind"],
        "notebook": template.get("notebook") or None,
        "command": template.get("command") or None,
        "step": template.get("step") or None,
        "environment": template["environment"],
        "machine": template["machine"],
        "datasets": schedule.data,
        "parameters": template.get("parameters") or {},
        "created": iso(aware(schedule.created)),
    }


def last_job_of(db: Session, schedule: Schedule) -> Job | None:
    """The job the schedule made last, if it is still there (a deleted job's id may be
    another's now: only a job this schedule made counts)."""
    job = db.get(Job, schedule.last_job_id) if schedule.last_job_id else None
    return job if job is not None and job.schedule_id == schedule.id else None
