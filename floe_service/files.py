"""Serving what users keep: one file of a tree, or a blob from a byte offset, streamed from the
blob store without holding it in memory.

Whatever a user kept is served inert on the hub's origin: ``nosniff`` and a sandboxing CSP
on every answer, and inline only for an allow-list of types a browser cannot run (plain text,
PNG, JPEG, GIF); anything else, HTML and SVG above all, is an attachment of no known type.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from urllib.parse import quote

from tornado import web

from dataset_mounter.stores import BlobStore
from floe.core.errors import NotFound
from floe.trees.tree import Tree, check_path

from .workers import off_loop

CHUNK = 1 << 20
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif"})
# Text a browser would run or style with, if it ever rendered it.
ACTIVE_TEXT = frozenset({"text/html", "text/xml", "text/javascript", "text/css", "text/xsl"})
SANDBOX = "sandbox; default-src 'none'"


def inert(handler: web.RequestHandler, csp: str = SANDBOX) -> None:
    """Headers for an answer carrying user content: never sniffed, never run as a page."""
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("Content-Security-Policy", csp)


def served_type(path: str) -> tuple[str, bool]:
    """``(Content-Type, inline)`` for a file of this name: inert types inline, the rest not."""
    guessed = mimetypes.guess_type(path)[0] or ""
    if guessed in INLINE_IMAGES:
        return guessed, True
    if guessed.startswith("text/") and guessed not in ACTIVE_TEXT or guessed == "application/json":
        return "text/plain; charset=utf-8", True
    return "application/octet-stream", False


async def send_tree_file(
    handler: web.RequestHandler, store: BlobStore, tree: Tree, path: str, where: str, download: bool
) -> None:
    """Stream one file of ``tree`` (``download``: as an attachment)."""
    entry = tree.find(check_path(path))
    if entry is None:
        raise NotFound(f"no file {path} in {where}")
    content_type, inline = served_type(path)
    inert(handler)
    handler.set_header("Content-Type", content_type)
    handler.set_header("Content-Length", str(entry.size))
    if download or not inline:
        handler.set_header("Content-Disposition", attachment(PurePosixPath(path).name))
    await stream_blob(handler, store, entry.sha256)


def attachment(name: str) -> str:
    """``Content-Disposition`` for ``name`` (RFC 6266): an ASCII fallback, and the name itself
    percent-encoded as UTF-8, so no file name can break or add to the header."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\%;' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def stream_blob(
    handler: web.RequestHandler, store: BlobStore, sha256: str, offset: int = 0
) -> None:
    """Write blob ``sha256`` from the store to the response, from byte ``offset``."""
    reader = await off_loop(store.open, sha256)
    try:
        while offset > 0:  # S3 bodies cannot seek: read past what the caller has
            skipped = await off_loop(reader.read, min(offset, CHUNK))
            if not skipped:
                return
            offset -= len(skipped)
        while chunk := await off_loop(reader.read, CHUNK):
            handler.write(chunk)
            await handler.flush()
    finally:
        reader.close()
