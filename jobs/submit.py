"""Submitting and re-running jobs: every field checked, inputs pinned, code kept as a tree.

A request (``JobRequest``) names its project, kind, environment, machine, datasets and
parameters; what it runs comes as a notebook (JSON) or a command, with optional code uploaded
as a tree the way dataset versions are (blobs first, then the manifest). The service made the
request from its ``floe_service.schemas.NewJob``, which checked its shape (known fields, their
types, the kind and mode, the project's name); here is what needs the catalog, the database
or the deployer's limits, and what every way of making a job shares: ``resolve``. Every error
names its field.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from containers.catalog import Catalog, Environment, Machine
from containers.options import parse_user_options
from dataset_mounter.keep import keep_bytes, require_uploaded, save_tree, storage_used
from dataset_mounter.mounts import resolve_mounts
from dataset_mounter.settings import DatasetSettings
from environments.builder import EnvironmentBuilder
from environments.custom import find_environment
from environments.images import approved_image
from floe.core.access import Caller
from floe.core.durations import format_duration
from floe.core.errors import (
    Conflict,
    FloeUserError,
    GpuUnavailable,
    InvalidRequest,
    QuotaExceeded,
    TooManyJobs,
)
from floe.core.job_states import JobState
from floe.core.locks import NamedLocks
from floe.core.refs import check_name
from floe.core.sizes import format_size
from floe.db.models import RUN, SERVE, Job, Project
from floe.db.team_settings import storage_quota
from floe.trees.tree import Entry, Tree, check_path

from .container.parameterize import check_parameters
from .limits import JobLimits
from .records import add_job, project_for, project_owner, set_state

MAX_NOTEBOOK_BYTES = 64 << 20
SERVE_APP = "app.py"  # FloydHub's convention: a serving job with no command serves its `app`


@contextmanager
def checking(name: str) -> Iterator[None]:
    """Errors raised inside name the field ``name`` (in the message and as ``field``)."""
    try:
        yield
    except FloeUserError as err:
        err.naming(name)
        raise
    except (ValueError, TypeError) as err:
        raise InvalidRequest(f"{name}: {err}", field=name) from err


@dataclass
class JobContext:
    """What submitting needs besides the request: the catalog, storage, this node's GPUs, the
    limits a job runs under, and the builder that tells a published environment's image is
    still here."""

    catalog: Catalog
    datasets: DatasetSettings
    gpu_total: int
    limits: JobLimits
    builder: EnvironmentBuilder | None = None


@dataclass(frozen=True)
class JobRequest:
    """What someone asks to run, its shape checked where it was made (the service's
    ``NewJob``); a schedule makes one of its row at each run, a re-run of the job it repeats."""

    project: str
    kind: str = "notebook"
    mode: str = RUN
    name: str | None = None  # the notebook's file name
    step: str | None = None
    notebook: dict | None = None  # nbformat 4 JSON
    command: str | None = None
    code: list[dict] | None = None  # a manifest, its blobs uploaded first
    output: list[dict] | None = None  # a snapshot's /output, a manifest too
    environment: str | None = None
    machine: str | None = None
    datasets: list[str] | None = None  # mount specs
    parameters: dict | None = None
    message: str | None = None
    max_runtime: int | None = None


@dataclass(frozen=True)
class Resolved:
    """What a request names, found now: its environment, machine and datasets (``None``
    where it named none: a re-run keeps its job's)."""

    environment: Environment
    machine: Machine
    datasets: list[dict] | None


def resolve(
    db: Session, caller: Caller, request: JobRequest, ctx: JobContext, *, count: int = 1
) -> Resolved:
    """Find the environment, machine and datasets ``request`` names, then check the caller's
    queue has room for ``count`` more jobs and their storage room for what a job keeps (a
    snapshot runs nothing: no room needed). Every way of making a job does this, in this
    order; the caller holds ``queueing``."""
    environment = _environment(db, caller, ctx, request.environment)
    machine = _machine(ctx.catalog, caller, request.machine, ctx.gpu_total, request.kind)
    datasets = None
    if request.datasets is not None:
        datasets = _datasets(db, caller, request.datasets, ctx)
    if request.kind != "snapshot":
        _check_queue_room(db, caller, ctx, count)
        _check_storage_room(db, project_owner(caller, request.project), ctx)
    return Resolved(environment, machine, datasets)


def submit_job(db: Session, caller: Caller, request: JobRequest, ctx: JobContext) -> Job:
    """Check ``request``, keep its code (and, for snapshots, its output) and queue the job."""
    with queueing.hold(caller.name):
        return _submit_job(db, caller, request, ctx)


# One submit of a user's at a time, so submits in parallel cannot pass their share of the
# queue together (the check counts the jobs, the submit adds them).
queueing = NamedLocks()


@dataclass
class Prepared:
    """A job checked and its code kept, not yet numbered: the project's name and the
    ``Job``'s columns (a task makes many jobs of one)."""

    project: str
    fields: dict

    def job(self, **changes: object) -> Job:
        return Job(**{**copy.deepcopy(self.fields), **changes})


def _submit_job(db: Session, caller: Caller, request: JobRequest, ctx: JobContext) -> Job:
    prepared = prepare_job(db, caller, request, ctx)
    job = prepared.job()
    # The trees first: a submit that loses the race for a job number rolls back what is
    # pending, and a job must never point at a tree that was rolled back with it. The
    # project is made only now, so a refused submit leaves no empty project behind.
    db.commit()
    add_job(db, job, project_for(db, caller, prepared.project))
    if job.kind == "snapshot":
        set_state(db, job, JobState.COMPLETE, "saved from a workspace")
    else:
        set_state(db, job, JobState.QUEUED)
    return job


def prepare_job(
    db: Session, caller: Caller, request: JobRequest, ctx: JobContext, *, count: int = 1
) -> Prepared:
    """Check ``request`` and keep its code (and a snapshot's output): what ``count`` jobs of
    it need, with room for them in the caller's queue. The caller holds ``queueing``."""
    kind, mode = request.kind, request.mode
    _check_mode(kind, mode)
    parameters = _parameters(request.parameters or {})
    step = _step(request.step)
    max_runtime = _max_runtime(ctx, request.max_runtime, mode)
    found = resolve(db, caller, request, ctx, count=count)
    with checking("code"):
        code = Tree.from_manifest(request.code) if request.code is not None else Tree(())
    notebook_name = command = ""
    if kind in ("notebook", "snapshot"):
        notebook_name, entry = _keep_notebook(db, caller, ctx, request)
        code = _with_entry(code, entry)
    else:
        command = request.command or ""
        if mode == RUN and not command.strip():
            raise InvalidRequest("command: must be a non-empty string", field="command")
        if not command.strip() and code.find(SERVE_APP) is None:
            raise InvalidRequest(
                f"command: a serving job runs a command listening on $PORT, or with none the "
                f"WSGI `app` of an {SERVE_APP} in its code; this one has neither",
                field="command",
            )
    code = require_uploaded(db, code, caller, "code")
    output_tree = None
    if kind == "snapshot":
        with checking("output"):
            output = Tree.from_manifest(request.output or [])
        output = _with_entry(output, code.find(notebook_name))
        output = require_uploaded(db, output, caller, "output")
        output_tree = save_tree(db, output)
    fields = {
        "owner": project_owner(caller, request.project),
        "submitted_by": caller.name,
        "kind": kind,
        "notebook": notebook_name,
        "command": command,
        "environment": found.environment.slug,
        "machine": found.machine.slug,
        "image": found.environment.image,
        "datasets": found.datasets or [],
        "parameters": parameters,
        "code_tree": save_tree(db, code),
        "output_tree": output_tree,
        "message": request.message or "",
        "max_runtime": max_runtime,
        "mode": mode,
        "step": step,
    }
    return Prepared(request.project, fields)


def rerun_job(db: Session, caller: Caller, old: Job, changes: dict, ctx: JobContext) -> Job:
    """FloydHub's restart: the same code and inputs as ``old``, with ``changes`` applied
    (any of environment, machine, datasets, parameters and message)."""
    with queueing.hold(caller.name):
        return _rerun_job(db, caller, old, changes, ctx)


def _rerun_job(db: Session, caller: Caller, old: Job, changes: dict, ctx: JobContext) -> Job:
    if old.kind == "snapshot":
        raise Conflict(f"{old.full_name} was saved from a workspace; snapshots are never re-run")
    # A team's job is re-run in the team's project by a member; anyone else (an admin, one it
    # is shared with) re-runs it as their own.
    project = old.project.full_name if caller.member_of(old.owner) else old.project.name
    request = replace(
        JobRequest(
            project=project,
            kind=old.kind,
            mode=old.mode,
            environment=old.environment,
            machine=old.machine,
            max_runtime=old.max_runtime,
            message=f"re-run of {old.full_name}",
        ),
        **{**changes, "parameters": {**old.parameters, **changes.get("parameters", {})}},
    )
    parameters = _parameters(request.parameters)
    max_runtime = _max_runtime(ctx, request.max_runtime, old.mode)
    found = resolve(db, caller, request, ctx)
    environment = found.environment
    job = Job(
        owner=project_owner(caller, project),
        submitted_by=caller.name,
        kind=old.kind,
        notebook=old.notebook,
        command=old.command,
        environment=environment.slug,
        machine=found.machine.slug,
        # No datasets asked for: the very versions it mounted.
        datasets=old.datasets if found.datasets is None else found.datasets,
        parameters=parameters,
        code_tree=old.code_tree,
        # The same environment: the very image the job ran in, while the node has it.
        **(_same_image(old) if environment.slug == old.environment else _image(environment)),
        message=request.message,
        rerun_of=old.id,
        max_runtime=max_runtime,
        mode=old.mode,
        step=old.step,
    )
    # The new job is the caller's (an admin re-running someone's job runs it as their own).
    add_job(db, job, project_for(db, caller, project))
    set_state(db, job, JobState.QUEUED)
    return job


def queue_again(
    db: Session,
    caller: Caller,
    project: Project,
    fields: dict,
    request: JobRequest,
    ctx: JobContext,
    **changes: object,
) -> Job:
    """A job of ``fields`` (a ``Prepared``'s columns) queued now, as a schedule runs one: the
    environment, machine and datasets ``request`` names resolved anew, so a dataset named
    without a version mounts its latest. The caller holds ``queueing``; the job is theirs,
    whatever name ``fields`` kept (a schedule's owner may have been retired since)."""
    found = resolve(db, caller, request, ctx)
    job = Job(
        **{
            **copy.deepcopy(fields),
            "owner": caller.name,
            "submitted_by": fields.get("submitted_by") or caller.name,
            "environment": found.environment.slug,
            "machine": found.machine.slug,
            **_image(found.environment),
            "datasets": found.datasets,
            **changes,
        }
    )
    add_job(db, job, project)
    set_state(db, job, JobState.QUEUED)
    return job


def _environment(db: Session, caller: Caller, ctx: JobContext, name: object) -> Environment:
    with checking("environment"):
        if name in (None, ""):
            return ctx.catalog.default_environment()
        environment = find_environment(db, ctx.catalog, name, caller)
        if environment.approved_image_id and ctx.builder is not None:
            approved_image(environment, ctx.builder)  # refused now, not once it is queued
        return environment


def _image(environment: Environment) -> dict:
    return {"image": environment.image}


def _same_image(old: Job) -> dict:
    return {"image": old.image, "image_digest": old.image_digest, "provenance": old.provenance}


def _machine(catalog: Catalog, caller: Caller, slug: object, gpu_total: int, kind: str) -> Machine:
    with checking("machine"):
        # A team's machine type is unknown to whoever is not in the team.
        machine = parse_user_options({"machine": slug}, catalog, caller).machine
        if machine.gpus > gpu_total and kind != "snapshot":
            have = f"only {gpu_total}" if gpu_total else "no"
            raise GpuUnavailable(
                f"the '{machine.slug}' machine needs {machine.gpus} GPU(s) and this Floe has "
                f"{have} GPU(s); pick a CPU machine type"
            )
        return machine


def _datasets(db: Session, caller: Caller, specs: object, ctx: JobContext) -> list[dict]:
    with checking("datasets"):
        plans = resolve_mounts(db, caller, specs, roots=list(ctx.datasets.mount_roots))
        return [p.to_json() for p in plans]


def _step(value: object) -> str:
    if value in (None, ""):
        return ""
    with checking("step"):
        return check_name(value, "step name")


def _check_mode(kind: str, mode: str) -> None:
    if mode == SERVE and kind != "command":
        raise InvalidRequest(
            f"mode: a {kind} job cannot serve; serve mode runs a command (or app.py's WSGI app)",
            field="mode",
        )


def _max_runtime(ctx: JobContext, seconds: int | None, mode: str = RUN) -> int | None:
    """The job's maximum runtime: asked for (at most the deployer's ceiling) or the default;
    a serving job runs until stopped unless it asks."""
    if seconds is None and mode == SERVE:
        return None
    if seconds is None:
        return min(ctx.limits.default_max_runtime, ctx.limits.max_runtime_ceiling)
    if seconds > ctx.limits.max_runtime_ceiling:
        raise InvalidRequest(
            f"max_runtime: at most {format_duration(ctx.limits.max_runtime_ceiling)} "
            f"({ctx.limits.max_runtime_ceiling} s) here, not {seconds} s",
            field="max_runtime",
        )
    return seconds


def _check_queue_room(db: Session, caller: Caller, ctx: JobContext, count: int = 1) -> None:
    # Counted by who ran them: jobs of a team's count for the member who submitted them.
    runner = or_(
        Job.submitted_by == caller.name, and_(Job.submitted_by == "", Job.owner == caller.name)
    )
    waiting = db.scalar(
        select(func.count(Job.id)).where(runner, Job.state.in_([JobState.CREATED, JobState.QUEUED]))
    )
    most = ctx.limits.max_queued_per_user
    if waiting + count > most:
        adding = f"; {count} more would pass it" if count > 1 and waiting < most else ""
        raise TooManyJobs(
            f"you have {waiting} jobs waiting and {most} is the most one user may queue{adding}; "
            "submit more once some have started (or stop some)"
        )


def _check_storage_room(db: Session, owner: str, ctx: JobContext) -> None:
    """A job whose owner's (a user's or team's) storage quota is full could keep neither
    output nor log."""
    quota = storage_quota(db, owner, ctx.datasets.user_quota_bytes)
    if quota and (used := storage_used(db, owner)) >= quota:
        raise QuotaExceeded(
            f"{owner} keeps {format_size(used)}, their whole storage quota of "
            f"{format_size(quota)}: a job could keep nothing; remove what is not needed or "
            "ask an admin for more room"
        )


def _parameters(value: object) -> dict:
    with checking("parameters"):
        return check_parameters(value)


def _keep_notebook(
    db: Session, caller: Caller, ctx: JobContext, request: JobRequest
) -> tuple[str, Entry]:
    """Store the notebook's JSON as a blob; return its file name and tree entry."""
    with checking("name"):
        name = request.name or "notebook.ipynb"
        if not name.endswith(".ipynb"):
            raise InvalidRequest(f"{name!r} must be a notebook file name ending in .ipynb")
        check_path(name)
    with checking("notebook"):
        notebook = request.notebook
        if notebook is None or not isinstance(notebook.get("cells"), list):
            raise InvalidRequest("must be a notebook's JSON (nbformat 4) with a list of cells")
        if notebook.get("nbformat") != 4:
            raise InvalidRequest(
                f"nbformat {notebook.get('nbformat')!r} is not supported; save as 4"
            )
        data = json.dumps(notebook, indent=1, ensure_ascii=False).encode()
        if len(data) > MAX_NOTEBOOK_BYTES:
            raise InvalidRequest(f"the notebook is over {MAX_NOTEBOOK_BYTES >> 20} MiB")
    sha = hashlib.sha256(data).hexdigest()
    keep_bytes(db, ctx.datasets.store, data, sha, caller.name, ctx.datasets.user_quota_bytes)
    return name, Entry(name, sha, len(data))


def _with_entry(tree: Tree, entry: Entry | None) -> Tree:
    if entry is None:
        return tree
    return Tree.from_entries([e for e in tree.entries if e.path != entry.path] + [entry])
