"""REST API for blobs: which ones the store lacks, and uploads (one blob, or a pack of small ones).

Bodies are spooled to disk as they arrive, hashed on the way and off the event loop
(``dataset_mounter.spool``); a blob is kept only if its bytes hash to its name.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dataset_mounter.keep import missing_blobs, record_blobs, room_for, storage_used
from dataset_mounter.pack import read_pack
from dataset_mounter.spool import Spool
from floe.core.errors import Forbidden, InvalidRequest

from . import schemas
from .handlers import APIHandler
from .operations import Route, operation
from .workers import upload

PACK_BATCH_BYTES = 4 * 1024 * 1024
PACK_BATCH_BLOBS = 500


class MissingBlobsHandler(APIHandler):
    @operation(
        "Which of these blobs the server lacks",
        body=schemas.BlobList,
        response=schemas.Missing,
        errors=(400,),
    )
    async def post(self) -> None:
        blobs = (await self.body(schemas.BlobList)).blobs
        missing = await self.off_loop(missing_blobs, self.db(), set(blobs), self.caller)
        self.send({"missing": missing}, shape=schemas.Missing)


class SpooledUploadHandler(APIHandler):
    """Request bodies go to a spool file as they arrive, hashed on the way (off the loop)."""

    hash_body = True

    async def prepare(self) -> None:
        await super().prepare()
        self._spool = Spool(self.datasets.cache_path / "spool", hashed=self.hash_body)

    async def data_received(self, chunk: bytes) -> None:
        self._over_limit = self._over_limit or self._spool.size + len(chunk) > self.body_limit
        if not self._over_limit:
            await self._spool.add(chunk)

    async def spooled(self) -> str:
        """The whole body is in the spool file: its sha256 ("" when not hashed)."""
        self.check_size()
        return await self._spool.finish()

    def count_received(self, blobs: int) -> None:
        stats = self.settings["blob_stats"]
        stats["received_bytes"] += self._spool.size
        stats["received_blobs"] += blobs

    def on_finish(self) -> None:
        self._discard_spool()
        super().on_finish()

    def _keep_blob(self, sha256: str, holder: str) -> None:
        sizes = {sha256: self._spool.size}
        with self.sessions() as db, room_for(db, holder, sizes, self.datasets.user_quota_bytes):
            if missing_blobs(db, {sha256}):  # else stored already: the sender now holds it
                self.datasets.store.put_file(sha256, self._spool.path)
            record_blobs(db, sizes, holder)

    def on_connection_close(self) -> None:
        self._discard_spool()  # an upload cut off midway leaves nothing behind

    def _discard_spool(self) -> None:
        if hasattr(self, "_spool"):
            self._spool.discard()


class BlobHandler(SpooledUploadHandler):
    @property
    def body_limit(self) -> int:
        return self.limits.blob_bytes

    @operation(
        "Upload one blob (raw bytes, checked against its sha256)",
        ok=201,
        raw_body=True,
        response=schemas.BlobStored,
        errors=(400, 413),
    )
    async def put(self, sha256: str) -> None:
        received = await self.spooled()
        if received != sha256:
            raise InvalidRequest(f"blob {sha256}: the bytes sent hash to {received}")
        await upload(self._keep_blob, sha256, self.caller.name)
        self.count_received(1)
        self.send({"sha256": sha256, "size": self._spool.size}, 201, shape=schemas.BlobStored)


class PackHandler(SpooledUploadHandler):
    hash_body = False  # read_pack hashes each blob; a hash of the whole pack would go unused

    @property
    def body_limit(self) -> int:
        return self.limits.pack_bytes

    @operation(
        "Upload many small blobs at once: repeated '<size>\\n' + bytes",
        ok=201,
        raw_body=True,
        response=schemas.PackStored,
        errors=(400, 413),
    )
    async def post(self) -> None:
        await self.spooled()
        holder = self.caller.name
        stored = await upload(self._store_pack, holder)
        self.count_received(len(stored))
        self.send({"stored": len(stored)}, 201, shape=schemas.PackStored)

    def _store_pack(self, holder: str) -> dict[str, int]:
        """Keep the pack's blobs a few MiB at a time, never the whole pack in memory."""
        stored: dict[str, int] = {}
        batch: list[tuple[str, bytes]] = []
        batch_bytes = 0
        with open(self._spool.path, "rb") as pack, self.sessions() as db:
            for sha, data in read_pack(pack):
                batch.append((sha, data))
                batch_bytes += len(data)
                if batch_bytes >= PACK_BATCH_BYTES or len(batch) >= PACK_BATCH_BLOBS:
                    stored.update(self._keep_batch(db, batch, holder))
                    batch, batch_bytes = [], 0
            stored.update(self._keep_batch(db, batch, holder))
        return stored

    def _keep_batch(self, db: Session, batch: list[tuple[str, bytes]], holder: str) -> dict:
        sizes = {sha: len(data) for sha, data in batch}
        with room_for(db, holder, sizes, self.datasets.user_quota_bytes):
            new = set(missing_blobs(db, set(sizes)))
            self.datasets.store.put_many([(sha, data) for sha, data in batch if sha in new])
            record_blobs(db, sizes, holder)
        return sizes


class BlobStatsHandler(APIHandler):
    """How many blob bytes this service received since it started (admins only)."""

    @operation(
        "Blob bytes received since start (admins)", response=schemas.BlobStats, errors=(403,)
    )
    def get(self) -> None:
        if not self.caller.admin:
            raise Forbidden("only admins may read the service's statistics")
        self.send(self.settings["blob_stats"], shape=schemas.BlobStats)


class StorageHandler(APIHandler):
    @operation("Bytes you keep, and your storage quota (0: none)", response=schemas.Storage)
    async def get(self) -> None:
        used = await self.off_loop(storage_used, self.db(), self.caller.name)
        self.send({"used": used, "quota": self.datasets.user_quota_bytes}, shape=schemas.Storage)


ROUTES = [
    Route("/blobs/missing", MissingBlobsHandler),
    Route("/blobs/stats", BlobStatsHandler),
    Route("/storage", StorageHandler),
    Route("/blobs/pack", PackHandler),
    Route("/blobs/{sha256}", BlobHandler),
]
