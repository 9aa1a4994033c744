"""The REST API's shapes as typed models: requests are checked with them, responses are written
through them, and the OpenAPI document is generated from them (``openapi.py``).

Checks that need no database live here (types, known fields, kinds, name grammar, manifest
paths); what needs the catalog or the database (does the dataset exist, may you read it) is
checked by the code behind each endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from dataset_mounter.tree import check_path, check_sha256
from floe.core.errors import FloeUserError
from floe.core.refs import MAX_NUMBER, NAME_PATTERN, check_name, check_project_name
from floe.db.models import KINDS, MODES, STATES


def checked(check: Any) -> AfterValidator:
    """A Floe check as a pydantic validator: its message, as written, becomes the error."""

    def run(value: Any) -> Any:
        try:
            check(value)
        except FloeUserError as err:
            raise PydanticCustomError("floe", err.message) from None
        return value

    return AfterValidator(run)


Name = Annotated[
    str, Field(json_schema_extra={"pattern": f"^{NAME_PATTERN}$"}), checked(check_name)
]
ProjectName = Annotated[
    str, Field(json_schema_extra={"pattern": f"^{NAME_PATTERN}$"}), checked(check_project_name)
]
Count = Annotated[int, Field(ge=0, le=MAX_NUMBER)]
Sha256 = Annotated[
    str, Field(json_schema_extra={"pattern": "^[0-9a-f]{64}$"}), checked(check_sha256)
]
FilePath = Annotated[
    str,
    Field(description="relative POSIX path, no '..'", json_schema_extra={"maxLength": 4096}),
    checked(check_path),
]


class Request(BaseModel):
    """A request body: unknown fields are refused, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Error(BaseModel):
    error: str = Field(description="what was wrong, and what would be right")
    field: str | None = Field(None, description="the request field the error is about")
    missing: list[str] | None = Field(None, description="blobs to upload before retrying")


# --- datasets ----------------------------------------------------------------------------


class NewDataset(Request):
    name: Name
    public: bool = False
    description: str = ""


class FileEntry(Request):
    path: FilePath
    sha256: Sha256
    size: Count
    mode: int = Field(0o644, ge=0, le=0o7777, description="POSIX mode; only 0o111 is kept")


class NewVersion(Request):
    manifest: list[FileEntry]
    message: str = ""


class BlobList(Request):
    blobs: list[Sha256]


class Version(BaseModel):
    number: int
    message: str
    created_by: str
    created: datetime
    size: int
    file_count: int


class DatasetFile(BaseModel):
    path: str
    sha256: str
    size: int
    mode: int


class CommittedVersion(Version):
    dataset: str = Field(description="owner/name")


class VersionFiles(CommittedVersion):
    files: list[DatasetFile]


class DatasetSummary(BaseModel):
    owner: str
    name: str
    full_name: str
    public: bool
    description: str
    created: datetime
    latest_version: int | None


class Dataset(DatasetSummary):
    versions: list[Version]


class Missing(BaseModel):
    missing: list[str]


class BlobStored(BaseModel):
    sha256: str
    size: int


class PackStored(BaseModel):
    stored: int


class Storage(BaseModel):
    used: int = Field(description="bytes of the blobs you hold")
    quota: int = Field(description="the most you may keep, in bytes (0: no quota)")


class BlobStats(BaseModel):
    received_bytes: int
    received_blobs: int


# --- jobs --------------------------------------------------------------------------------

Kind = Literal[KINDS]  # type: ignore[valid-type]
Mode = Literal[MODES]  # type: ignore[valid-type]
State = Literal[STATES]  # type: ignore[valid-type]
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
    max_runtime: int | None = Field(
        None, ge=1, le=MAX_NUMBER, description="seconds before Floe stops the job"
    )


class Rerun(Request):
    """What a re-run may change; the code and, unless given, the inputs stay."""

    environment: str | None = None
    machine: str | None = None
    datasets: MountSpecs | None = None
    parameters: dict[str, Any] | None = None
    message: str | None = None
    max_runtime: int | None = Field(None, ge=1, le=MAX_NUMBER)


class JobEvent(BaseModel):
    state: State
    reason: str
    time: datetime


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
    created: datetime


class MadeServingToken(ServingToken):
    token: str = Field(description="the token itself: shown this once, kept only as a hash")


class JobSummary(BaseModel):
    id: int
    name: str = Field(description="owner/project/N")
    owner: str
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
    created: datetime
    started: datetime | None
    finished: datetime | None
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


class Deleted(BaseModel):
    deleted: str = Field(description="what was deleted: a job, a dataset or a version")
    versions: list[int] | None = Field(None, description="a dataset's versions deleted")
    freed_bytes: int = Field(
        description="bytes removed from the store at once; blobs stored in the last hour "
        "go with the next collection"
    )


class Job(JobSummary):
    events: list[JobEvent]
    url: str = Field(description="the job's page")


# A query flag: ?follow=1, ?follow=true; given empty (?download=) it is off.
Flag = Annotated[bool, BeforeValidator(lambda value: value or False)]
MAX_JOBS_LISTED = 1000


class Query(BaseModel):
    """A query string: unknown arguments are ignored, text is read as the declared type."""

    model_config = ConfigDict(extra="ignore")


class JobsQuery(Query):
    project: str | None = Field(None, description="'cats' or 'alice/cats'")
    state: State | None = None
    limit: Annotated[
        int,
        Field(ge=1, description=f"at most {MAX_JOBS_LISTED}; more is read as {MAX_JOBS_LISTED}"),
        AfterValidator(lambda value: min(value, MAX_JOBS_LISTED)),
    ] = 100
    offset: int = Field(0, ge=0, le=MAX_NUMBER)


class LogsQuery(Query):
    follow: Flag = Field(False, description="keep the answer open until the job ends")
    offset: int = Field(0, ge=0, le=MAX_NUMBER, description="start at this byte")


class BuildLogQuery(Query):
    offset: int = Field(0, ge=0, le=MAX_NUMBER, description="start at this byte")


class FileQuery(Query):
    download: Flag = Field(False, description="as an attachment")


class MetricsQuery(Query):
    points: int = Field(
        1000, ge=2, le=100_000, description="at most this many lines, evenly spread, the last kept"
    )


class MetricLine(BaseModel):
    index: int = Field(description="which metric line of the job this is, from 1")
    time: datetime
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


class Environment(BaseModel):
    slug: str = Field(description="what jobs and workspaces name it by: 'alice/nlp:2'")
    display_name: str
    image: str
    description: str
    default: bool
    owner: str = Field("", description="who made it (empty: the catalog's)")


EnvState = Literal["ready", "queued", "building", "failed"]


class NewEnvironment(Request):
    """The next version of one of your environments: ``from`` (an environment you may use)
    plus ``requirements`` (pip's format, packages from the index or by URL)."""

    name: Name
    base: str = Field(alias="from", description="'datascience', 'nlp' or 'alice/nlp:2'")
    requirements: str = Field(description="a requirements.txt's text")
    description: str = ""


class EnvironmentPublic(Request):
    public: bool


class EnvironmentInfo(BaseModel):
    name: str = Field(description="what jobs and workspaces name it by")
    kind: Literal["catalog", "made"]
    display_name: str
    description: str
    owner: str
    version: int | None
    base: str = Field(description="what it is built on (empty: a plain image)")
    requirements: str | None = Field(description="what a made one installs on its base")
    public: bool
    state: EnvState
    reason: str
    created: datetime | None
    image: str
    on_node: bool | None = Field(
        description="whether this node has its image now (false: built on its next use; "
        "null: the engine could not say)"
    )
    size_bytes: int | None
    last_used: datetime | None = Field(description="when a job or workspace last used it")
    url: str | None = Field(description="its page")


class Machine(BaseModel):
    slug: str
    display_name: str
    cpu: float
    memory_bytes: int
    gpus: int
    description: str
    default: bool
    summary: str


class Gpus(BaseModel):
    total: int
    free: int


class Catalog(BaseModel):
    environments: list[Environment]
    machines: list[Machine]
    gpus: Gpus
