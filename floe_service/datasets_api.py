"""REST API for datasets: create, commit a version from a manifest, read back versions and files."""

from __future__ import annotations

from typing import Any

from dataset_mounter import datasets as ds
from dataset_mounter.deletion import delete_dataset
from dataset_mounter.keep import load_tree
from floe.core.refs import DatasetRef, parse_number
from floe.db.models import Dataset, Version
from floe.trees.tree import Tree

from . import schemas
from .files import send_tree_file
from .handlers import APIHandler
from .operations import Route, operation


def version_json(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "message": version.message,
        "created_by": version.created_by,
        "created": version.created,
        "size": version.size,
        "file_count": version.file_count,
    }


def dataset_json(dataset: Dataset, versions: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "owner": dataset.owner,
        "name": dataset.name,
        "full_name": dataset.full_name,
        "public": dataset.public,
        "description": dataset.description,
        "created": dataset.created,
        "latest_version": dataset.versions[-1].number if dataset.versions else None,
    }
    if versions:
        data["versions"] = [version_json(v) for v in dataset.versions]
    return data


class DatasetsHandler(APIHandler):
    @operation("Datasets you can read", response=list[schemas.DatasetSummary], errors=())
    def get(self) -> None:
        found = ds.visible_datasets(self.db(), self.caller)
        self.send([dataset_json(d) for d in found], shape=list[schemas.DatasetSummary])

    @operation(
        "Create a dataset",
        ok=201,
        body=schemas.NewDataset,
        response=schemas.Dataset,
        errors=(400, 404, 409),
    )
    async def post(self) -> None:
        new = await self.body(schemas.NewDataset)
        caller = await self.caller_in(new.owner)
        dataset = ds.create_dataset(
            self.db(),
            caller,
            new.name,
            public=new.public,
            description=new.description,
            owner=new.owner,
        )
        self.send(dataset_json(dataset, versions=True), 201, shape=schemas.Dataset)


class DatasetHandler(APIHandler):
    @operation("A dataset and its versions", response=schemas.Dataset)
    def get(self, owner: str, name: str) -> None:
        dataset = ds.get_dataset(self.db(), self.caller, owner, name)
        answer = {**dataset_json(dataset, versions=True), "shared_with": self.shared_with(dataset)}
        self.send(answer, shape=schemas.Dataset)

    @operation(
        "Delete a dataset and every version; refused (409) while a job or schedule uses one",
        response=schemas.Deleted,
        errors=(400, 404, 409),
    )
    async def delete(self, owner: str, name: str) -> None:
        answer = await self.off_loop(_delete, self, owner, name, None)
        self.send(answer, shape=schemas.Deleted)


def _delete(handler: APIHandler, owner: str, name: str, number: int | None) -> dict:
    db = handler.db()
    dataset = ds.get_dataset(db, handler.caller, owner, name)
    full_name = dataset.full_name
    numbers, freed = delete_dataset(db, handler.datasets.store, handler.caller, dataset, number)
    what = f"{full_name}:{number}" if number else full_name
    return {"deleted": what, "versions": numbers, "freed_bytes": freed}


class VersionsHandler(APIHandler):
    @operation(
        "Commit the next version from a manifest; 409 with 'missing' lists blobs to send first",
        ok=201,
        body=schemas.NewVersion,
        response=schemas.CommittedVersion,
        errors=(400, 403, 404, 409),
    )
    async def post(self, owner: str, name: str) -> None:
        new = await self.body(schemas.NewVersion)
        answer = await self.off_loop(self._commit, owner, name, new)
        self.send(answer, 201, shape=schemas.CommittedVersion)

    def _commit(self, owner: str, name: str, new: schemas.NewVersion) -> dict[str, Any]:
        db = self.db()
        dataset = ds.get_dataset(db, self.caller, owner, name)
        tree = Tree.from_manifest([entry.model_dump() for entry in new.manifest])
        version = ds.commit_version(db, self.caller, dataset, tree, new.message)
        return {"dataset": dataset.full_name, **version_json(version)}


def _version(handler: APIHandler, owner: str, name: str, number: str) -> tuple:
    ref = DatasetRef(owner, name, parse_number(number, "version"))
    dataset, version = ds.resolve(handler.db(), handler.caller, ref)
    return dataset, version, load_tree(handler.db(), version.tree_digest)


class VersionHandler(APIHandler):
    @operation("A version and its files", response=schemas.VersionFiles)
    def get(self, owner: str, name: str, number: str) -> None:
        dataset, version, tree = _version(self, owner, name, number)
        answer = {"dataset": dataset.full_name, **version_json(version)}
        self.send({**answer, "files": tree.to_manifest()}, shape=schemas.VersionFiles)

    @operation(
        "Delete a version; refused (409) while a job or schedule uses it",
        response=schemas.Deleted,
        errors=(400, 404, 409),
    )
    async def delete(self, owner: str, name: str, number: str) -> None:
        number = parse_number(number, "version")
        answer = await self.off_loop(_delete, self, owner, name, number)
        self.send(answer, shape=schemas.Deleted)


class VersionFileHandler(APIHandler):
    @operation("One file's bytes", query=schemas.FileQuery, content="application/octet-stream")
    async def get(self, owner: str, name: str, number: str, path: str) -> None:
        download = self.query(schemas.FileQuery).download
        dataset, version, tree = _version(self, owner, name, number)
        where = f"{dataset.full_name}:{version.number}"
        self.release_db()
        await send_tree_file(self, self.datasets.store, tree, path, where, download)


ROUTES = [
    Route("/datasets", DatasetsHandler),
    Route("/datasets/{owner}/{name}", DatasetHandler),
    Route("/datasets/{owner}/{name}/versions", VersionsHandler),
    Route("/datasets/{owner}/{name}/versions/{number}", VersionHandler),
    Route("/datasets/{owner}/{name}/versions/{number}/files/{path}", VersionFileHandler),
]
