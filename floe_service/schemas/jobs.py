"""Jobs and projects: what their endpoints take and answer (their logs, metrics, output and
serving tokens too)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from floe.core.job_states import JobState
from floe.core.refs import MAX_NUMBER, MAX_SIZE, NAME_PATTERN, SPACE_CHARS
from floe.db.models import KINDS, MODES
from jobs.submit import JobRequest

from .common import WHOLE, Flag, ProjectName, Query, Request, Timestamp
from .datasets import DatasetFile, FileEntry

MAX_JOBS_LISTED = 1000
# ?project= as tornado reads it (its control characters made spaces, then stripped of white
# space) and then ProjectRef.parse: a project's name, or nothing for all of them.
_CONTROLS = r"\x00-\x08\x0e-\x1b"
_AROUND = rf"[{_CONTROLS}{SPACE_CHARS}]*"
_OWNER = rf"[^/:{_CONTROLS}{SPACE_CHARS}]{{1,255}}"
PROJECT_QUERY = rf"^{_AROUND}(?:(?:{_OWNER}/(?:projects/)?)?{NAME_PATTERN})?{_AROUND}$"

Kind = Literal[KINDS]  # type: ignore[valid-type]
Mode = Literal[MODES]  # type: ignore[valid-type]
State = Literal[tuple(s.value for s in JobState)]  # type: ignore[valid-type]
MountSpecs = Annotated[
    list[str],
    Field(
        max_length=100,
        description="'mnist:1', 'bob/cats:2:/input/pets', 'alice/cats/3/output:/input/prev', "
        "FloydHub's 'alice/datasets/mnist/1:input'",
    ),
]


class NewJob(Request):
    """A notebook job sends ``notebook`` (nbformat 4 JSON) and ``name``; a command job sends
    ``command`` and optionally ``code`` (a manifest whose blobs were uploaded first); a
    snapshot sends ``notebook`` and ``output`` (a manifest). Errors name the bad field."""

    project: ProjectName
    kind: Kind = "notebook"
    mode: Mode = Field(
        "run",
        description="'serve': a command (or app.py's WSGI app) answering on $PORT until stopped",
    )
    name: str | None = Field(None, description="the notebook's file name, ending in .ipynb")
    step: str | None = Field(None, description="the step of the project's floe.yml it runs")
    notebook: dict[str, Any] | None = None
    command: str | None = None
    code: list[FileEntry] | None = None
    output: list[FileEntry] | None = None
    environment: str | None = None
    machine: str | None = None
    datasets: MountSpecs | None = None
    parameters: dict[str, Any] | None = None
    message: str | None = None
    max_runtime: Annotated[int, Field(ge=1, le=MAX_NUMBER), WHOLE] | None = Field(
        None, description="seconds before Floe stops the job"
    )

    def job_request(self) -> JobRequest:
        """The job this asks for, as ``jobs`` takes it (a task's or a schedule's own fields
        left out): every field of this model is one of ``JobRequest``'s."""
        return JobRequest(**self.model_dump(include=set(NewJob.model_fields), exclude_none=True))


class Rerun(Request):
    """What a re-run may change; the code and, unless given, the inputs stay."""

    environment: str | None = None
    machine: str | None = None
    datasets: MountSpecs | None = None
    parameters: dict[str, Any] | None = None
    message: str | None = None
    max_runtime: Annotated[int, Field(ge=1, le=MAX_NUMBER), WHOLE] | None = None


class JobEvent(BaseModel):
    state: State
    reason: str
    time: Timestamp


class JobInput(BaseModel):
    spec: str
    source: str
    target: str
    tree: str


class ImageStep(BaseModel):
    environment: str = Field(description="the environment, or floe_requirements.txt")
    image: str
    id: str
    requirements: str | None = Field(None, description="what this step installed")
    key: str | None = Field(None, description="the build's key: its base's id + requirements")


class ServingFigures(BaseModel):
    requests: int
    errors: int = Field(description="answers of 500 and over, and requests it never answered")
    p50_ms: float | None = Field(description="median time of the latest requests, in ms")
    p99_ms: float | None
    last: float | None = Field(description="when the last request came (Unix time)")


class NewServingToken(Request):
    name: str = Field("", max_length=100, description="what the token is for")


class ServingToken(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="the token's first characters")
    created_by: str
    created: Timestamp


class MadeServingToken(ServingToken):
    token: str = Field(description="the token itself: shown this once, kept only as a hash")


class JobSummary(BaseModel):
    id: int
    name: str = Field(description="owner/project/N")
    owner: str
    submitted_by: str = Field(
        description="who ran it: its owner, or a member of the team that owns it"
    )
    project: str
    number: int
    kind: Kind
    notebook: str | None
    command: str | None
    environment: str
    machine: str
    image: str
    image_digest: str
    provenance: list[ImageStep] | None = Field(
        description="what made the image, from the environment's first image on"
    )
    datasets: list[JobInput]
    parameters: dict[str, Any]
    message: str
    state: State
    reason: str
    exit_code: int | None
    code_tree: str | None
    output_tree: str | None
    output: str | None = Field(description="owner/project/N/output once the output is kept")
    created: Timestamp
    started: Timestamp | None
    finished: Timestamp | None
    rerun_of: int | None
    max_runtime: int | None = Field(description="seconds before Floe stops the job")
    running_for_s: float | None = Field(None, description="while starting or running")
    mode: Mode
    step: str | None = Field(None, description="the step of the project's floe.yml it ran")
    task: str | None = Field(None, description="the task (owner/project/task/N) it is one of")
    schedule: int | None = Field(None, description="the id of the schedule that ran it")
    serve_url: str | None = Field(
        None, description="a serving job's URL (a path under the hub), answered with a token"
    )
    serving: ServingFigures | None = Field(None, description="a serving job's requests")


class Job(JobSummary):
    events: list[JobEvent]
    url: str = Field(description="the job's page")


class JobsQuery(Query):
    project: str | None = Field(
        None,
        description="'cats' or 'alice/cats'",
        json_schema_extra={"pattern": PROJECT_QUERY},
    )
    state: State | None = None
    limit: Annotated[
        int,
        Field(ge=1, description=f"at most {MAX_JOBS_LISTED}; more is read as {MAX_JOBS_LISTED}"),
        AfterValidator(lambda value: min(value, MAX_JOBS_LISTED)),
    ] = 100
    offset: int = Field(0, ge=0, le=MAX_SIZE)


class LogsQuery(Query):
    follow: Flag = Field(False, description="keep the answer open until the job ends")
    offset: int = Field(0, ge=0, le=MAX_SIZE, description="start at this byte")


class NodeLogQuery(Query):
    offset: int = Field(ge=0, le=MAX_SIZE, description="where in the job's log the bytes go")
    output_bytes: int | None = Field(
        None, ge=0, le=MAX_SIZE, description="/output's bytes on the node, now"
    )
    output_entries: int | None = Field(
        None, ge=0, le=MAX_NUMBER, description="/output's files and folders on the node, now"
    )


class NodeLogReceived(BaseModel):
    received: int = Field(description="the job's log bytes the service has from the node")
    max_log_bytes: int = Field(description="the most of the log the service keeps")
    max_output_bytes: int = Field(description="the most of /output the service keeps")
    max_output_files: int = Field(description="the most files of /output the service keeps")
    send_back: bool = Field(description="the container has ended: send the folder back")


class FileQuery(Query):
    download: Flag = Field(False, description="as an attachment")


class MetricsQuery(Query):
    points: int = Field(
        1000, ge=2, le=100_000, description="at most this many lines, evenly spread, the last kept"
    )


class MetricLine(BaseModel):
    index: int = Field(description="which metric line of the job this is, from 1")
    time: Timestamp
    values: dict[str, Any]


class Metrics(BaseModel):
    job: str
    metrics: list[MetricLine]
    count: int = Field(description="metric lines kept in all")
    last: dict[str, Any] = Field(description="the last value of each key, over all lines")


class Output(BaseModel):
    job: str
    name: str
    tree: str
    size: int
    file_count: int
    files: list[DatasetFile]


class Project(BaseModel):
    owner: str
    name: str
    full_name: str
    writable: bool = Field(description="whether you may run jobs in it (yours or a team's)")
