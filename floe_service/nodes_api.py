"""What a node's Floe volume plugin reads from the service (trees and blobs, by content id)
and sends back (a job's log, result note and /output, from the machine it ran on).

A node lays out a dataset version or a job's output for the containers placed on it
(``floe_node.volume_driver``); it asks the service for the tree's manifest and, when it
cannot read the blob store itself, for the blobs. These endpoints take the **node token**
(``<data dir>/node_token``, ``floe-admin node-token`` prints it), never a user's: a user who
knows a hash must still not read its bytes (see ``dataset_mounter.keep``). A node already runs
every user's containers, so the token gives it nothing it could not take.

What a node sends of a job lands in the job's folder here (``jobs.job_return``) only while the
job is starting or running: a job that has ended takes nothing more (409), and the node drops
what it kept. Everything sent was written by the job, and is bounded by the job's limits.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from dataset_mounter.keep import stored_sizes
from dataset_mounter.spool import Spool
from floe.core.errors import Conflict, Forbidden, NotFound, TooLarge, Unauthorized
from floe.core.job_states import JobState
from floe.core.sizes import format_size
from floe.db.models import Job, TreeRow
from jobs import job_return
from jobs.job_folder import JobFolder
from jobs.watch import output_over

from . import schemas
from .files import stream_blob
from .handlers import APIHandler
from .operations import Route, operation

NODE_HINT = "send 'Authorization: token <node token>' (floe-admin node-token prints it)"


class NodeHandler(APIHandler):
    """Authenticated by the node token alone; no hub user, no account to claim."""

    def authenticate(self) -> None:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token:
            raise Unauthorized(NODE_HINT)
        expected = self.settings.get("node_token", "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise Forbidden("that is not this Floe's node token")

    async def claim_account(self) -> None:
        return None


class TreeHandler(NodeHandler):
    @operation(
        "A tree's manifest, as the database keeps it (zlib-compressed JSON rows; nodes)",
        content="application/octet-stream",
        errors=(401, 403, 404),
    )
    async def get(self, digest: str) -> None:
        row = await self.off_loop(self.db().get, TreeRow, digest)
        if row is None:
            raise NotFound(f"no tree {digest}")
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(row.manifest)


class NodeBlobHandler(NodeHandler):
    @operation(
        "A blob's bytes (nodes that cannot read the blob store themselves)",
        content="application/octet-stream",
        errors=(401, 403, 404),
    )
    async def get(self, sha256: str) -> None:
        stored = (await self.off_loop(stored_sizes, self.db(), {sha256})).get(sha256)
        if stored is None:
            raise NotFound(f"no blob {sha256}")
        self.release_db()  # not held while the bytes stream
        self.settings["blob_stats"]["served_to_nodes"] += 1
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(stored))
        await stream_blob(self, self.datasets.store, sha256)
        self.finish()


# A tar member's headers and padding (a long or non-ASCII name takes a pax header of its
# own): what /output's tar may carry beyond its files' bytes, per entry.
TAR_ENTRY_BYTES = 3 * 512 + 4096
LOG_CHUNK_BYTES = 8 * 1024**2


class NodeJobHandler(NodeHandler):
    """A job's folder, sent back by the node that ran it (while the job is not ended)."""

    async def job_folder(self, container: str) -> JobFolder:
        runner = self.settings["runner"]
        prefix = f"{runner.instance}-job-"
        if not container.startswith(prefix) or not container[len(prefix) :].isdigit():
            raise NotFound(f"no job container {container} in this Floe")
        job = await self.off_loop(self.db().get, Job, int(container[len(prefix) :]))
        if job is None:
            raise NotFound(f"no job container {container} in this Floe")
        if job.state not in (JobState.STARTING, JobState.RUNNING):
            raise Conflict(f"job {job.full_name} has ended ({job.state}): nothing more is taken")
        self.release_db()
        folder = runner.folder(job.id)
        if not folder.path.is_dir():
            raise NotFound(f"no folder for job container {container} in this Floe")
        self.job_id = job.id
        return folder


class NodeLogHandler(NodeJobHandler):
    @property
    def body_limit(self) -> int:
        return LOG_CHUNK_BYTES

    @operation(
        "Add what a job printed to its log (from the node it runs on)",
        query=schemas.NodeLogQuery,
        raw_body=True,
        response=schemas.NodeLogReceived,
        errors=(400, 401, 403, 404, 409, 413),
    )
    async def post(self, container: str) -> None:
        query = self.query(schemas.NodeLogQuery)
        self.check_size()
        folder = await self.job_folder(container)
        runner, limits = self.settings["runner"], self.settings["job_limits"]
        count = await self.off_loop(
            job_return.append_log, folder, query.offset, bytes(self._received), limits
        )
        if query.output_bytes is not None and query.output_entries is not None:
            why = output_over(query.output_bytes, query.output_entries, limits)
            if why:  # past what it may keep: stopped, as on this machine
                runner.stop_soon(self.job_id, why)
        answer = {
            "received": count,
            "max_log_bytes": limits.max_log_bytes,
            "max_output_bytes": limits.max_output_bytes,
            "max_output_files": limits.max_output_files,
            "send_back": job_return.is_awaited(folder),
        }
        self.send(answer, shape=schemas.NodeLogReceived)


class NodeResultHandler(NodeJobHandler):
    @property
    def body_limit(self) -> int:
        return job_return.RESULT_NOTE_BYTES

    @operation(
        "A job's result note, once its container has exited (from its node)",
        raw_body=True,
        ok=204,
        content="",
        errors=(401, 403, 404, 409, 413),
    )
    async def put(self, container: str) -> None:
        self.check_size()
        folder = await self.job_folder(container)
        await self.off_loop(job_return.write_result, folder, bytes(self._received))
        self.set_status(204)
        self.finish()


class NodeOutputHandler(NodeJobHandler):
    """/output as a tar stream, spooled to the job's folder, then unpacked off the loop."""

    _spool: Spool | None = None

    @property
    def body_limit(self) -> int:
        limits = self.settings["job_limits"]
        return limits.max_output_bytes + TAR_ENTRY_BYTES * (limits.max_output_files + 16)

    def _spooled(self) -> Spool:
        if self._spool is None:
            self._spool = Spool(Path(self.settings["runner"].jobs_dir) / ".spool", hashed=False)
        return self._spool

    async def data_received(self, chunk: bytes) -> None:
        spool = self._spooled()
        self._over_limit = self._over_limit or spool.size + len(chunk) > self.body_limit
        if not self._over_limit:
            await spool.add(chunk)

    @operation(
        "A job's /output as a tar stream, once its container has exited (from its node)",
        raw_body=True,
        ok=204,
        content="",
        errors=(401, 403, 404, 409, 413),
    )
    async def put(self, container: str) -> None:
        if self._over_limit:
            raise TooLarge(f"/output's archive may be at most {format_size(self.body_limit)}")
        folder = await self.job_folder(container)
        await self._spooled().finish()
        limits = self.settings["job_limits"]
        await self.off_loop(job_return.unpack_output, folder, self._spool.path, limits)
        self.set_status(204)
        self.finish()

    def on_finish(self) -> None:
        if self._spool is not None:
            self._spool.discard()
        super().on_finish()

    def on_connection_close(self) -> None:
        if self._spool is not None:
            self._spool.discard()


class NodeReturnedHandler(NodeJobHandler):
    @operation(
        "Say a job's folder is all back (its node sent the log, result note and /output)",
        ok=204,
        content="",
        errors=(401, 403, 404, 409),
    )
    async def post(self, container: str) -> None:
        folder = await self.job_folder(container)
        await self.off_loop(job_return.mark_returned, folder)
        self.set_status(204)
        self.finish()


ROUTES = [
    Route("/nodes/trees/{digest}", TreeHandler),
    Route("/nodes/blobs/{sha256}", NodeBlobHandler),
    Route("/nodes/jobs/{container}/log", NodeLogHandler),
    Route("/nodes/jobs/{container}/result", NodeResultHandler),
    Route("/nodes/jobs/{container}/output", NodeOutputHandler),
    Route("/nodes/jobs/{container}/returned", NodeReturnedHandler),
]
