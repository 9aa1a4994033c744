"""REST API for blobs: which ones the store lacks, and uploads (one blob, or a pack of small ones).

Bodies are spooled to disk as they arrive, hashed on the way and off the event loop
(``dataset_mounter.spool``); a blob is kept only if its bytes hash to its name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dataset_mounter.keep import (
    missing_blobs,
    record_blobs,
    room_for,
    room_left,
    storage_used,
    stored_sizes,
    touch_blobs,
)
from dataset_mounter.spool import Spool
from floe.core.errors import Conflict, Forbidden, InvalidRequest, QuotaExceeded
from floe.core.sizes import format_size
from floe.trees.pack import read_pack

from . import schemas
from .handlers import APIHandler
from .operations import Route, operation
from .workers import upload

PACK_BATCH_BYTES = 8 * 1024 * 1024
PACK_BATCH_BLOBS = 2000  # what the floe client packs: one batch a pack


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
    """Request bodies go to a spool file as they arrive, hashed on the way (off the loop).

    What a user spools at once counts against the room their storage quota leaves, so no
    number of uploads in parallel fills the disk past it; past it the rest is dropped (413).
    """

    hash_body = True
    _held = False  # the caller holds what they send already
    _room: int | None = None
    _over_quota = False
    _counted = 0  # bytes of this upload counted in settings["spooling"]
    _keeping = False  # the spool is being kept: a cut connection leaves it to on_finish

    async def prepare(self) -> None:
        await super().prepare()
        self._spool = Spool(self.datasets.cache_path / "spool", hashed=self.hash_body)
        if self.datasets.user_quota_bytes:
            self._room = await self.off_loop(self._room_left)

    def _room_left(self) -> int | None:
        with self.sessions() as db:
            return room_left(db, self.caller.name, self.datasets.user_quota_bytes)

    async def data_received(self, chunk: bytes) -> None:
        if self._held:
            return  # nothing to keep: read and dropped
        spooling = self.settings["spooling"]
        name = self.caller.name
        if self._room is not None and spooling[name] + len(chunk) > self._room:
            self._over_quota = True
        self._over_limit = (
            self._over_limit or self._over_quota or self._spool.size + len(chunk) > self.body_limit
        )
        if not self._over_limit:
            spooling[name] += len(chunk)
            self._counted += len(chunk)
            await self._spool.add(chunk)

    def check_size(self) -> None:
        if self._over_quota:
            quota = self.datasets.user_quota_bytes
            length = self.request.headers.get("Content-Length", "")
            sent = f"{format_size(int(length))} more" if length.isdigit() else "what is sent"
            raise QuotaExceeded(
                f"{self.caller.name} keeps {format_size(quota - self._room)}; {sent} would "
                f"pass the storage quota of {format_size(quota)}: ask an admin for more room"
            )
        super().check_size()

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
                self.datasets.store.put_file(sha256, self._spool.path, own=True)
            record_blobs(db, sizes, holder)

    def on_connection_close(self) -> None:
        if not self._keeping:
            self._discard_spool()  # an upload cut off midway leaves nothing behind

    async def keep(self, work: Any, *args: Any) -> Any:
        """``work(*args)`` on an upload thread, the spool left alone until it is done."""
        self._keeping = True
        try:
            return await upload(work, *args)
        finally:
            self._keeping = False

    def _discard_spool(self) -> None:
        if self._counted:
            self.settings["spooling"][self.caller.name] -= self._counted
            self._counted = 0
        if hasattr(self, "_spool"):
            self._spool.discard()


class BlobHandler(SpooledUploadHandler):
    """One blob; one the caller holds already is read and dropped, never spooled."""

    @property
    def body_limit(self) -> int:
        return self.limits.blob_bytes

    async def prepare(self) -> None:
        await super().prepare()
        sha256 = self.path_args[0] if self.path_args else ""
        self._held = not await self.off_loop(self._missing, sha256)

    def _stored_size(self, sha256: str) -> int:
        with self.sessions() as db:
            touch_blobs(db, {sha256})  # sent again: fresh again (see dataset_mounter.collect)
            size = stored_sizes(db, {sha256}).get(sha256)
        if size is None:
            raise Conflict(f"blob {sha256} was removed as you sent it: send it again")
        return size

    def _missing(self, sha256: str) -> list[str]:
        with self.sessions() as db:
            return missing_blobs(db, {sha256}, self.caller)

    @operation(
        "Upload one blob (raw bytes, checked against its sha256)",
        ok=201,
        raw_body=True,
        response=schemas.BlobStored,
        errors=(400, 409, 413),
    )
    async def put(self, sha256: str) -> None:
        if self._held:  # sent again: stored already, and theirs; costs nothing
            size = await self.off_loop(self._stored_size, sha256)
            self.send({"sha256": sha256, "size": size}, 201, shape=schemas.BlobStored)
            return
        received = await self.spooled()
        if received != sha256:
            raise InvalidRequest(f"blob {sha256}: the bytes sent hash to {received}")
        await self.keep(self._keep_blob, sha256, self.caller.name)
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
        stored = await self.keep(self._store_pack, holder)
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
            record_blobs(db, sizes, holder, new)
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
