"""Every table of Floe's database: datasets, versions, trees, blobs, projects, jobs.

One module, low in the graph, so that the migrations (which must know every table), the
dataset code, the job runner and the service all read the same models and none of them
imports another to reach a table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from floe.core.access import DATASET, ENVIRONMENT, PROJECT
from floe.core.job_states import FINISHED, JobState

from .base import Base, utcnow

# On SQLite a row's id is one past the highest left unless AUTOINCREMENT: ids of jobs, tasks,
# schedules, environments and serving tokens are never given twice (what the runner, the
# serving proxy or a user remembers of a deleted one must never apply to another).
UNIQUE_IDS = {"sqlite_autoincrement": True}


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The highest version number it ever gave: a deleted version's number is never reused.
    last_version_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    versions: Mapped[list[Version]] = relationship(
        back_populates="dataset", order_by="Version.number"
    )

    share_kind = DATASET

    @property
    def share_name(self) -> str:
        return self.name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class TreeRow(Base):
    """A tree's manifest, compressed; shared by every version with the same content."""

    __tablename__ = "trees"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)


class Version(Base):
    __tablename__ = "versions"
    # Two concurrent commits can both compute the same next number; this makes one retry.
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    tree_digest: Mapped[str] = mapped_column(ForeignKey("trees.digest"))
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[Dataset] = relationship(back_populates="versions")


class Blob(Base):
    """A blob known to be durable in the store (so 'which do you lack?' needs no store calls)."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # When it was stored: one no tree names a day later was never committed, and goes.
    created: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)


class Account(Base):
    """A hub user name as Floe knows it: who it belongs to, told apart by when the hub made
    them. A user deleted from the hub and made again starts with nothing of the old one's."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    created: Mapped[str] = mapped_column(String(64))


class BlobHolder(Base):
    """Who has shown they hold a blob's bytes: sent them, or had them kept from their job.

    Knowing a hash is not holding the bytes: a tree may name a blob only if its maker holds
    it; anyone else is told it is missing and must send it (checked, then stored once).
    """

    __tablename__ = "blob_holders"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class StorageUse(Base):
    """The bytes of the blobs each holder holds, kept up to date as they come and go (the
    quota is checked on every upload: a sum over a user's 100k blobs costs 90 ms)."""

    __tablename__ = "storage_use"

    holder: Mapped[str] = mapped_column(String(255), primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)


# --- jobs -----------------------------------------------------------------------------

# A job's states are floe.core.job_states' JobState.
KINDS = ("notebook", "command", "snapshot")
RUN, SERVE = "run", "serve"
MODES = (RUN, SERVE)


# --- environments people make ------------------------------------------------------------

ENV_QUEUED, ENV_BUILDING, ENV_READY, ENV_FAILED = "queued", "building", "ready", "failed"
ENV_STATES = (ENV_QUEUED, ENV_BUILDING, ENV_READY, ENV_FAILED)


class EnvironmentName(Base):
    """An environment's name (``alice/nlp``) with the highest version number it ever gave,
    so that no number is given twice."""

    __tablename__ = "environment_names"

    owner: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CustomEnvironment(Base):
    """One version of an environment a user made (``alice/nlp:2``): another environment plus
    requirements, built into an image when made and again whenever it is gone."""

    __tablename__ = "environments"
    # Two concurrent creates can both compute the same next number; this makes one retry.
    __table_args__ = (UniqueConstraint("owner", "name", "number"), UNIQUE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    number: Mapped[int] = mapped_column(Integer)
    # What it is built on, pinned: a catalog slug or another made one (``bob/base:3``).
    base: Mapped[str] = mapped_column(String(400))
    # The normalised requirements (``environments.requirements``).
    requirements: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default=ENV_QUEUED, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The image of its last build (the tag holds the build's key) and that image's id.
    image: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    built: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    share_kind = ENVIRONMENT

    @property
    def share_name(self) -> str:
        return self.name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}:{self.number}"


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The highest job and task numbers it ever gave: a deleted one's number is never reused.
    last_job_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_task_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    share_kind = PROJECT

    @property
    def share_name(self) -> str:
        return self.name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class Job(Base):
    __tablename__ = "jobs"
    # Two concurrent submits can both compute the same next number; this makes one retry.
    __table_args__ = (UniqueConstraint("project_id", "number"), UNIQUE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    # Who ran it: the owner, or a member of the team that owns it ("" on jobs from before teams:
    # their owner). Per-user limits count jobs by it, team limits by ``owner``.
    submitted_by: Mapped[str] = mapped_column(String(255), default="", server_default="")
    kind: Mapped[str] = mapped_column(String(16))
    # The notebook's file name (notebook and snapshot jobs) or the shell command.
    notebook: Mapped[str] = mapped_column(Text, default="")
    command: Mapped[str] = mapped_column(Text, default="")
    # A catalog slug or an environment people made, pinned: ``alice/nlp:2``.
    environment: Mapped[str] = mapped_column(String(400))
    machine: Mapped[str] = mapped_column(String(64))
    image: Mapped[str] = mapped_column(Text, default="")
    image_digest: Mapped[str] = mapped_column(Text, default="")
    # What made the image: each step from the environment's first image to the job's own
    # floe_requirements.txt, [{"environment"|"requirements", "key", "image", "id"}], so that a
    # re-run months later runs in that image or builds the same thing again.
    provenance: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # [{"spec", "source", "target", "tree"}]: exact versions, resolved at submit time.
    datasets: Mapped[list] = mapped_column(JSON, default=list)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    code_tree: Mapped[str | None] = mapped_column(String(64), nullable=True)
    output_tree: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The whole log as a blob, kept when the job ends (the node's copy may go).
    log_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=JobState.CREATED, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    container_id: Mapped[str] = mapped_column(String(80), default="")
    gpu_ids: Mapped[list] = mapped_column(JSON, default=list)
    stop_requested_by: Mapped[str] = mapped_column(String(255), default="")
    # How far into the log metric lines have been read (so a restart neither skips nor repeats),
    # how many lines looked like metrics (the cap counts them) and each key's last value.
    metrics_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    metric_lines: Mapped[int] = mapped_column(Integer, default=0)
    metrics_last: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    rerun_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Seconds the job may run before Floe stops it (FloydHub's --max-runtime).
    max_runtime: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # "run" ends when its program does; "serve" answers requests on $PORT until stopped.
    mode: Mapped[str] = mapped_column(String(16), default=RUN)
    # A serving job's requests so far: {"requests", "errors", "p50_ms", "p99_ms", "last"}.
    serving: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The step of the project's floe.yml it ran ("" for none).
    step: Mapped[str] = mapped_column(String(100), default="")
    # The task (a sweep over parameters) it is one of, if any.
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), nullable=True, index=True)
    # The schedule that ran it, if any (kept when the schedule is removed, like rerun_of).
    schedule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    project: Mapped[Project] = relationship()
    task: Mapped[Task | None] = relationship(foreign_keys=[task_id])
    events: Mapped[list[JobEvent]] = relationship(order_by="JobEvent.id")

    share_kind = PROJECT

    @property
    def share_name(self) -> str:
        return self.project.name

    @property
    def runner(self) -> str:
        """Who ran it (its owner for a job from before teams)."""
        return self.submitted_by or self.owner

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.project.name}/{self.number}"

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED


class Task(Base):
    """Many jobs of one command or notebook over a grid of parameters (Valohai's task), run
    at most ``parallel`` at a time and compared by their metrics."""

    __tablename__ = "tasks"
    # Two concurrent sweeps can both compute the same next number; this makes one retry.
    __table_args__ = (UniqueConstraint("project_id", "number"), UNIQUE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    # {name: [values]}: the grid; its jobs hold one combination each (or ``random`` of them).
    sweep: Mapped[dict] = mapped_column(JSON, default=dict)
    random: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Jobs of the task that may run at once (None: as many as the owner's share allows).
    parallel: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # {metric: "min" | "max"}: which way is best, where the submitter said.
    goals: Mapped[dict] = mapped_column(JSON, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stop_requested_by: Mapped[str] = mapped_column(String(255), default="")
    submitted_by: Mapped[str] = mapped_column(String(255), default="", server_default="")

    project: Mapped[Project] = relationship()

    share_kind = PROJECT

    @property
    def share_name(self) -> str:
        return self.project.name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.project.name}/task/{self.number}"


class Schedule(Base):
    """A job run at the times of a cron expression: its code kept once, its datasets as
    written (resolved to their latest versions at each run)."""

    __tablename__ = "schedules"
    # Jobs keep the id of the schedule that ran them.
    __table_args__ = UNIQUE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The job each run makes: a submitted job's columns (``jobs.submit.Prepared``) but its
    # datasets, which are ``data``, the mount specs as the owner wrote them.
    template: Mapped[dict] = mapped_column(JSON)
    data: Mapped[list] = mapped_column(JSON, default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_run: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Times it fired (also what claims a run: see jobs.schedules.run_due).
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Who made it (its owner, or a member of the team that owns it).
    submitted_by: Mapped[str] = mapped_column(String(255), default="", server_default="")

    project: Mapped[Project] = relationship()

    share_kind = PROJECT

    @property
    def share_name(self) -> str:
        return self.project.name


class ServingToken(Base):
    """A token that lets its bearer call one serving job (kept as its SHA-256 only)."""

    __tablename__ = "serving_tokens"
    __table_args__ = UNIQUE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, so its owner can tell which one a line is about.
    prefix: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobEvent(Base):
    """One state change of a job, with its time and reason."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Metric(Base):
    """A metric line of a job's log: one JSON object, kept with the time it was read."""

    __tablename__ = "job_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    values: Mapped[dict] = mapped_column(JSON)


# --- teams and shares ----------------------------------------------------------------------


class Share(Base):
    """One thing (a dataset, a project with its jobs, an environment: all its versions) shared
    read-only with a user or a team. Who is in a team is the hub's to say (its groups), never
    kept here."""

    __tablename__ = "shares"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The user or team it is shared with.
    grantee: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TeamSettings(Base):
    """A team's quotas and share of the machine types, as an admin set them (no row, or a
    None: the deployer's defaults). Its members are the hub group's."""

    __tablename__ = "team_settings"

    team: Mapped[str] = mapped_column(String(255), primary_key=True)
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_running: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # {machine slug: fraction of that machine type's capacity the queue keeps for the team}.
    shares: Mapped[dict] = mapped_column(JSON, default=dict)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
