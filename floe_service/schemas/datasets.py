"""Datasets, versions and blobs: what their endpoints take and answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from .common import WHOLE, Count, FilePath, Name, Owner, Request, Sha256, Timestamp


class NewDataset(Request):
    name: Name
    owner: Owner | None = Field(
        None, description="a team of yours to own it (left out: you); also `owner/name`"
    )
    public: bool = False
    description: str = ""


class FileEntry(Request):
    path: FilePath
    sha256: Sha256
    size: Count
    mode: Annotated[int, Field(ge=0, le=0o7777), WHOLE] = Field(
        0o644, description="POSIX mode; only 0o111 is kept"
    )


class NewVersion(Request):
    manifest: list[FileEntry]
    message: str = ""


class BlobList(Request):
    blobs: list[Sha256]


class Version(BaseModel):
    number: int
    message: str
    created_by: str
    created: Timestamp
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
    created: Timestamp
    latest_version: int | None


class Dataset(DatasetSummary):
    versions: list[Version]
    shared_with: list[str] | None = Field(
        None, description="users and teams it is shared with (shown to its owner's members)"
    )


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
    served_to_nodes: int  # blobs nodes' volume plugins fetched through the service
