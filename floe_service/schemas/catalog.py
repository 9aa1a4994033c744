"""The catalog: environments (stock and made), machine types and GPUs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from floe.core.refs import MAX_SIZE

from .common import OwnedName, Query, Request, Timestamp


class BuildLogQuery(Query):
    offset: int = Field(0, ge=0, le=MAX_SIZE, description="start at this byte")


class CatalogEnvironment(BaseModel):
    """One environment of the catalog (or one made that the caller may use)."""

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

    name: OwnedName
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
    created: Timestamp | None
    image: str
    on_node: bool | None = Field(
        description="whether this node has its image now (false: built on its next use; "
        "null: the engine could not say)"
    )
    size_bytes: int | None
    last_used: Timestamp | None = Field(description="when a job or workspace last used it")
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


class Node(BaseModel):
    name: str = Field(description="the machine's host name")
    role: str = Field(description="manager or worker")
    state: str = Field(description="ready, down or disconnected")
    availability: str = Field(description="active, pause or drain (no new jobs)")
    cpu: float
    memory_bytes: int
    gpus: int
    gpus_free: int
    machine_types: list[str] = Field(description="the machine types jobs may run as there")


class Catalog(BaseModel):
    environments: list[CatalogEnvironment]
    machines: list[Machine]
    gpus: Gpus
    nodes: list[Node] | None = Field(
        None, description="the machines jobs run on (a swarm's nodes); null: this one machine"
    )
