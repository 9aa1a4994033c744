"""REST API for datasets: create, upload (only missing blobs), commit a version, read back."""

from __future__ import annotations

from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from dataset_mounter import datasets as ds
from dataset_mounter.db import Dataset, Version
from dataset_mounter.pack import BadPack, read_pack
from dataset_mounter.spool import Spool
from dataset_mounter.tree import Tree, check_sha256
from floe.errors import BadName
from floe.names import DatasetRef

from .handlers import APIHandler

MAX_UPLOAD_BYTES = 64 * 1024**3


def version_json(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "message": version.message,
        "created_by": version.created_by,
        "created": version.created.isoformat(),
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
        "created": dataset.created.isoformat(),
        "latest_version": dataset.versions[-1].number if dataset.versions else None,
    }
    if versions:
        data["versions"] = [version_json(v) for v in dataset.versions]
    return data


class DatasetsHandler(APIHandler):
    def get(self) -> None:
        self.send([dataset_json(d) for d in ds.visible_datasets(self.db(), self.caller)])

    def post(self) -> None:
        body = self.json_body()
        public = body.get("public", False)
        if not isinstance(public, bool):
            raise BadName("'public' must be true or false")
        dataset = ds.create_dataset(
            self.db(),
            self.caller,
            body.get("name"),
            public=public,
            description=str(body.get("description", "")),
        )
        self.send(dataset_json(dataset, versions=True), 201)


class DatasetHandler(APIHandler):
    def get(self, owner: str, name: str) -> None:
        dataset = ds.get_dataset(self.db(), self.caller, owner, name)
        self.send(dataset_json(dataset, versions=True))


class VersionsHandler(APIHandler):
    def post(self, owner: str, name: str) -> None:
        """Commit a version from a manifest; 409 lists blobs still to be sent."""
        body = self.json_body()
        db = self.db()
        dataset = ds.get_dataset(db, self.caller, owner, name)
        tree = Tree.from_manifest(body.get("manifest"))
        version = ds.commit_version(db, self.caller, dataset, tree, str(body.get("message", "")))
        self.send({"dataset": dataset.full_name, **version_json(version)}, 201)


class VersionHandler(APIHandler):
    def get(self, owner: str, name: str, number: str) -> None:
        db = self.db()
        dataset, version = ds.resolve(db, self.caller, DatasetRef(owner, name, int(number)))
        tree = ds.load_tree(db, version.tree_digest)
        self.send(
            {"dataset": dataset.full_name, **version_json(version), "files": tree.to_manifest()}
        )


class VersionFileHandler(APIHandler):
    async def get(self, owner: str, name: str, number: str, path: str) -> None:
        db = self.db()
        _dataset, version = ds.resolve(db, self.caller, DatasetRef(owner, name, int(number)))
        tree = ds.load_tree(db, version.tree_digest)
        await self.send_tree_file(tree, path, f"{owner}/{name}:{number}")


class MissingBlobsHandler(APIHandler):
    def post(self) -> None:
        blobs = self.json_body().get("blobs")
        if not isinstance(blobs, list):
            raise BadName("send {'blobs': [sha256, …]}")
        ids = {check_sha256(b) for b in blobs}
        self.send({"missing": ds.missing_blobs(self.db(), ids)})


@web.stream_request_body
class SpooledUploadHandler(APIHandler):
    """Request bodies go to a spool file as they arrive, hashed on the way (off the loop)."""

    hash_body = True

    def prepare(self) -> None:
        super().prepare()
        self.request.connection.set_max_body_size(MAX_UPLOAD_BYTES)
        self._spool = Spool(self.datasets.cache_path / "spool", hashed=self.hash_body)

    async def data_received(self, chunk: bytes) -> None:
        await self._spool.add(chunk)

    def count_received(self, blobs: int) -> None:
        stats = self.settings["blob_stats"]
        stats["received_bytes"] += self._spool.size
        stats["received_blobs"] += blobs

    def on_finish(self) -> None:
        self._discard_spool()
        super().on_finish()

    def on_connection_close(self) -> None:
        self._discard_spool()  # an upload cut off midway leaves nothing behind

    def _discard_spool(self) -> None:
        if hasattr(self, "_spool"):
            self._spool.discard()


class BlobHandler(SpooledUploadHandler):
    """PUT one blob's bytes; kept only if they hash to the id in the URL."""

    async def put(self, sha256: str) -> None:
        check_sha256(sha256)
        received = await self._spool.finish()
        if received != sha256:
            raise web.HTTPError(400, f"blob {sha256}: the bytes sent hash to {received}")
        store = self.datasets.store
        await IOLoop.current().run_in_executor(None, store.put_file, sha256, self._spool.path)
        ds.record_blobs(self.db(), {sha256: self._spool.size})
        self.count_received(1)
        self.send({"sha256": sha256, "size": self._spool.size}, 201)


class PackHandler(SpooledUploadHandler):
    """POST many small blobs in one pack (see dataset_mounter.pack)."""

    hash_body = False  # read_pack hashes each blob; a hash of the whole pack would go unused

    async def post(self) -> None:
        await self._spool.finish()
        try:
            stored = await IOLoop.current().run_in_executor(None, self._store_pack)
        except BadPack as err:
            raise web.HTTPError(400, str(err)) from None
        self.count_received(len(stored))
        self.send({"stored": len(stored)}, 201)

    def _store_pack(self) -> dict[str, int]:
        with open(self._spool.path, "rb") as pack:
            blobs = dict(read_pack(pack))
        self.datasets.store.put_many(list(blobs.items()))
        stored = {sha: len(data) for sha, data in blobs.items()}
        with self.datasets.sessions() as db:
            ds.record_blobs(db, stored)
        return stored


class BlobStatsHandler(APIHandler):
    """How many blob bytes this service received since it started (admins only)."""

    def get(self) -> None:
        if not self.caller.admin:
            raise web.HTTPError(403, "only admins may read the service's statistics")
        self.send(self.settings["blob_stats"])


def routes(prefix: str) -> list[tuple]:
    name = r"([^/]+)/([^/]+)"
    return [
        (prefix + r"datasets", DatasetsHandler),
        (prefix + rf"datasets/{name}", DatasetHandler),
        (prefix + rf"datasets/{name}/versions", VersionsHandler),
        (prefix + rf"datasets/{name}/versions/(\d+)", VersionHandler),
        (prefix + rf"datasets/{name}/versions/(\d+)/files/(.+)", VersionFileHandler),
        (prefix + r"blobs/missing", MissingBlobsHandler),
        (prefix + r"blobs/stats", BlobStatsHandler),
        (prefix + r"blobs/pack", PackHandler),
        (prefix + r"blobs/([0-9a-f]{64})", BlobHandler),
    ]
