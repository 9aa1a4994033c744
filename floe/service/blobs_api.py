"""REST API for blobs: which ones the store lacks, and uploads (one blob, or a pack of small ones).

Bodies are spooled to disk as they arrive, hashed on the way and off the event loop
(``dataset_mounter.spool``); a blob is kept only if its bytes hash to its name.
"""

from __future__ import annotations

from tornado import web
from tornado.ioloop import IOLoop

from dataset_mounter.keep import missing_blobs, record_blobs
from dataset_mounter.pack import read_pack
from dataset_mounter.spool import Spool
from floe.core.errors import Forbidden, InvalidRequest

from . import schemas
from .handlers import APIHandler
from .operations import Route, operation

MAX_UPLOAD_BYTES = 64 * 1024**3


class MissingBlobsHandler(APIHandler):
    @operation(
        "Which of these blobs the server lacks",
        body=schemas.BlobList,
        response=schemas.Missing,
        errors=(400,),
    )
    def post(self) -> None:
        blobs = self.body(schemas.BlobList).blobs
        missing = missing_blobs(self.db(), set(blobs), self.caller)
        self.send({"missing": missing}, shape=schemas.Missing)


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

    def write_error(self, status_code: int, **kwargs: object) -> None:
        # The body may be unread (refused before it arrived): tornado then closes the
        # connection after answering. Say so, or the hub's proxy sends the next request,
        # maybe someone else's, down the closing connection and that one fails with a 503.
        self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def on_finish(self) -> None:
        self._discard_spool()
        super().on_finish()

    def on_connection_close(self) -> None:
        self._discard_spool()  # an upload cut off midway leaves nothing behind

    def _discard_spool(self) -> None:
        if hasattr(self, "_spool"):
            self._spool.discard()


class BlobHandler(SpooledUploadHandler):
    @operation(
        "Upload one blob (raw bytes, checked against its sha256)",
        ok=201,
        raw_body=True,
        response=schemas.BlobStored,
        errors=(400,),
    )
    async def put(self, sha256: str) -> None:
        received = await self._spool.finish()
        if received != sha256:
            raise InvalidRequest(f"blob {sha256}: the bytes sent hash to {received}")
        if missing_blobs(self.db(), {sha256}):  # else stored already: the sender now holds it
            store = self.datasets.store
            await IOLoop.current().run_in_executor(None, store.put_file, sha256, self._spool.path)
        record_blobs(self.db(), {sha256: self._spool.size}, self.caller.name)
        self.count_received(1)
        self.send({"sha256": sha256, "size": self._spool.size}, 201, shape=schemas.BlobStored)


class PackHandler(SpooledUploadHandler):
    hash_body = False  # read_pack hashes each blob; a hash of the whole pack would go unused

    @operation(
        "Upload many small blobs at once: repeated '<size>\\n' + bytes",
        ok=201,
        raw_body=True,
        response=schemas.PackStored,
        errors=(400,),
    )
    async def post(self) -> None:
        await self._spool.finish()
        holder = self.caller.name
        stored = await IOLoop.current().run_in_executor(None, self._store_pack, holder)
        self.count_received(len(stored))
        self.send({"stored": len(stored)}, 201, shape=schemas.PackStored)

    def _store_pack(self, holder: str) -> dict[str, int]:
        with open(self._spool.path, "rb") as pack:
            blobs = dict(read_pack(pack))
        with self.sessions() as db:
            new = set(missing_blobs(db, set(blobs)))
            self.datasets.store.put_many([(sha, data) for sha, data in blobs.items() if sha in new])
            stored = {sha: len(data) for sha, data in blobs.items()}
            record_blobs(db, stored, holder)
        return stored


class BlobStatsHandler(APIHandler):
    """How many blob bytes this service received since it started (admins only)."""

    @operation(
        "Blob bytes received since start (admins)", response=schemas.BlobStats, errors=(403,)
    )
    def get(self) -> None:
        if not self.caller.admin:
            raise Forbidden("only admins may read the service's statistics")
        self.send(self.settings["blob_stats"], shape=schemas.BlobStats)


ROUTES = [
    Route("/blobs/missing", MissingBlobsHandler),
    Route("/blobs/stats", BlobStatsHandler),
    Route("/blobs/pack", PackHandler),
    Route("/blobs/{sha256}", BlobHandler),
]
