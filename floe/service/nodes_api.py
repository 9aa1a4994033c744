"""What a node's Floe volume plugin reads from the service: trees and blobs, by content id.

A node lays out a dataset version or a job's output for the containers placed on it
(``dataset_mounter.volume_plugin``); it asks the service for the tree's manifest and, when it
cannot read the blob store itself, for the blobs. These endpoints take the **node token**
(``<data dir>/node_token``, ``floe-admin node-token`` prints it), never a user's: a user who
knows a hash must still not read its bytes (see ``dataset_mounter.keep``). A node already runs
every user's containers, so the token gives it nothing it could not take.
"""

from __future__ import annotations

import hmac

from dataset_mounter.keep import stored_sizes
from floe.core.errors import Forbidden, NotFound, Unauthorized
from floe.db.models import TreeRow

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


ROUTES = [
    Route("/nodes/trees/{digest}", TreeHandler),
    Route("/nodes/blobs/{sha256}", NodeBlobHandler),
]
