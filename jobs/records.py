"""Projects and jobs in the database: names, who may see them, numbering and state changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.core.access import PROJECT, Caller, can_read, namespace_for
from floe.core.errors import FloeUserError, NotFound
from floe.core.job_states import FINISHED, JobState
from floe.core.refs import JobRef, ProjectRef, check_project_name
from floe.core.text import without_secrets
from floe.core.times import rfc3339
from floe.db.base import add_numbered, aware, utcnow
from floe.db.lookup import find_job, find_project
from floe.db.models import Job, JobEvent, Project
from floe.db.sharing import readable


def project_owner(caller: Caller, name: str) -> str:
    """Whose project ``name`` (``cats``, or a team's ``ml-lab/cats``) a job of the caller's
    goes in: theirs, or a team's they are a member of (else NotFound)."""
    return namespace_for(caller, ProjectRef.parse(name).owner)


def project_for(db: Session, caller: Caller, name: str) -> Project:
    """The project ``name`` (``cats``: the caller's; ``ml-lab/cats``: a team's they are in),
    made on first use."""
    owner, name = project_owner(caller, name), check_project_name(ProjectRef.parse(name).name)
    query = select(Project).where(Project.owner == owner, Project.name == name)
    project = db.scalar(query)
    if project is None:
        db.add(Project(owner=owner, name=name))
        try:
            db.commit()
        except IntegrityError:
            db.rollback()  # made by a concurrent submit
        project = db.scalar(query)
    return project


def visible_projects(db: Session, caller: Caller) -> list[Project]:
    """The caller's projects, their teams', and those shared with them."""
    query = select(Project).order_by(Project.owner, Project.name)
    query = query.where(readable(caller, PROJECT, Project.owner, Project.name))
    return list(db.scalars(query))


def get_project(db: Session, caller: Caller, owner: str, name: str) -> Project:
    """The project, if ``caller`` may see it; NotFound otherwise."""
    project = find_project(db, owner, name)
    if project is None or not can_read(caller, project):
        raise NotFound(f"no project {owner}/{name} that you can see")
    return project


def get_job(db: Session, caller: Caller, ref: str | JobRef) -> Job:
    """A job by any of its names (see ``floe.core.refs``); NotFound if the caller may not see it."""
    parsed = ref if isinstance(ref, JobRef) else JobRef.parse(ref)
    job = find_job(db, parsed, caller.name)
    if job is None or not can_read(caller, job):
        raise NotFound(f"no job {ref} that you can see")
    return job


def list_jobs(
    db: Session,
    caller: Caller,
    *,
    project: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Job]:
    query = select(Job).join(Project).order_by(Job.id.desc()).offset(offset).limit(limit)
    query = query.where(readable(caller, PROJECT, Project.owner, Project.name))
    if project:
        wanted = _project_filter(project)
        query = query.where(Project.name == wanted.name)
        if wanted.owner or not caller.admin:
            query = query.where(Project.owner == (wanted.owner or caller.name))
    if state:
        query = query.where(Job.state == state)
    return list(db.scalars(query))


def add_job(db: Session, job: Job, project: Project) -> Job:
    """Insert ``job`` as the next number of ``project`` and record its ``created`` event."""
    project_id, project_name = project.id, project.full_name  # a rollback expires them

    def numbered(number: int) -> Job:
        job.id, job.project_id, job.number = None, project_id, number
        return job

    add_numbered(
        db,
        Job.number,
        Job.project_id == project_id,
        Project.last_job_number,
        lambda: db.get(Project, project_id),
        numbered,
        f"too many concurrent submits to {project_name}; retry",
    )
    db.add(JobEvent(job_id=job.id, state=job.state, reason=""))
    db.commit()
    return job


def set_state(
    db: Session, job: Job, state: str, reason: str = "", *, only_from: tuple[str, ...] = ()
) -> bool:
    """Move ``job`` to ``state``, keeping the change with its time and reason.

    ``only_from``: only if the job is in one of these states in the database right now (the
    runner and a user's stop may act on one job at once); False when it was not.
    """
    now = utcnow()
    if only_from:
        moved = db.execute(
            update(Job).where(Job.id == job.id, Job.state.in_(only_from)).values(state=state)
        )
        if moved.rowcount == 0:
            db.rollback()
            db.refresh(job)
            return False
    job.state = state
    job.reason = reason
    if state == JobState.RUNNING and job.started is None:
        job.started = now
    if state in FINISHED:
        job.finished = now
    db.add(JobEvent(job_id=job.id, state=state, reason=reason, time=now))
    db.commit()
    return True


def last_metrics(db: Session, job_ids: list[int]) -> dict[int, dict[str, float]]:
    """The last value of each metric key, per job (for sorting a project's jobs)."""
    rows = db.execute(select(Job.id, Job.metrics_last).where(Job.id.in_(job_ids)))
    return {job_id: dict(last or {}) for job_id, last in rows}


def _project_filter(text: str) -> ProjectRef:
    try:
        return ProjectRef.parse(text)
    except FloeUserError as err:
        raise err.naming("project") from None


def iso(value: datetime | None) -> str | None:
    """A stored time as the API writes it (RFC 3339, UTC), or None."""
    return rfc3339(value) if value else None


def _shown_provenance(steps: list[dict] | None) -> list[dict] | None:
    # Steps are kept masked; those kept before every kind of credential was masked are masked here.
    if not steps:
        return steps
    return [
        {**s, "requirements": without_secrets(s["requirements"])} if s.get("requirements") else s
        for s in steps
    ]


def job_json(job: Job, *, events: bool = False) -> dict:
    body = {
        "id": job.id,
        "name": job.full_name,
        "owner": job.owner,
        "submitted_by": job.runner,
        "project": job.project.name,
        "number": job.number,
        "kind": job.kind,
        "notebook": job.notebook or None,
        "command": job.command or None,
        "environment": job.environment,
        "machine": job.machine,
        "image": job.image,
        "image_digest": job.image_digest,
        "provenance": _shown_provenance(job.provenance),
        "datasets": job.datasets,
        "parameters": job.parameters,
        "message": job.message,
        "state": job.state,
        "reason": job.reason,
        "exit_code": job.exit_code,
        "code_tree": job.code_tree,
        "output_tree": job.output_tree,
        "output": f"{job.full_name}/output" if job.output_tree else None,
        "created": iso(job.created),
        "started": iso(job.started),
        "finished": iso(job.finished),
        "rerun_of": job.rerun_of,
        "max_runtime": job.max_runtime,
        "mode": job.mode,
        "step": job.step or None,
        "task": job.task.full_name if job.task_id else None,
        "schedule": job.schedule_id,
    }
    if job.state in (JobState.STARTING, JobState.RUNNING) and job.started:
        body["running_for_s"] = round((utcnow() - aware(job.started)).total_seconds(), 1)
    if events:
        body["events"] = [
            {"state": e.state, "reason": e.reason, "time": iso(e.time)} for e in job.events
        ]
    return body
