"""Shapes of teams (hub groups, with Floe's settings and usage) and of shares."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from floe.core.refs import MAX_SIZE

from .common import WHOLE, Request, Timestamp


class Share(BaseModel):
    kind: Literal["dataset", "project", "environment"]
    thing: str = Field(description="what is shared: owner/name")
    grantee: str = Field(description="the user or team it is shared with, read-only")
    grantee_kind: Literal["user", "team"]
    created_by: str
    created: Timestamp


class TeamSummary(BaseModel):
    name: str
    members: list[str]
    maintainers: list[str]
    you_maintain: bool


Limit = Annotated[int, Field(ge=0, le=MAX_SIZE), WHOLE]
Fraction = Annotated[float, Field(ge=0, le=1)]


class TeamSettings(BaseModel):
    storage_bytes: int | None = Field(
        None, description="bytes the team may keep (None: the deployer's per-owner quota)"
    )
    max_running: int | None = Field(None, description="jobs the team may run at once")
    max_gpus: int | None = Field(None, description="GPUs the team's jobs may use at once")
    shares: dict[str, float] = Field(
        default_factory=dict,
        description="{machine type: fraction of what the node runs of it at once}: the queue "
        "starts this team's jobs of that type before others' while it runs less than that",
    )


class TeamSettingsChange(Request):
    """Only the fields given change; null clears one back to the default."""

    storage_bytes: Limit | None = None
    max_running: Limit | None = None
    max_gpus: Limit | None = None
    shares: dict[Annotated[str, Field(min_length=1, max_length=63)], Fraction] | None = Field(
        None, max_length=64
    )


class QueuedJob(BaseModel):
    name: str
    submitted_by: str
    machine: str
    reason: str


class TeamUsage(BaseModel):
    running: int
    gpus: int
    queued: int
    running_by_machine: dict[str, int]
    storage_bytes: int
    storage_quota_bytes: int = Field(description="0: no quota")


class Team(TeamSummary):
    settings: TeamSettings
    usage: TeamUsage
    waiting: list[QueuedJob] = Field(description="the team's queued jobs, oldest first, and why")
