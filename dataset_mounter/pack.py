"""Packs: many small blobs in one request, so 100k small files are not 100k round trips.

A pack is ``<size>\\n`` followed by ``size`` bytes, repeated. The server hashes each blob
itself (a blob's id is its hash), so the framing is a few bytes a blob: a second version
with 1% of 1 KiB files changed sends 1.005 bytes per changed byte, not 1.5 as with tar.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .stores import CHUNK


class BadPack(ValueError):
    pass


def pack_bytes(paths: list[str]) -> bytes:
    """The files at ``paths`` as one pack."""
    buf = io.BytesIO()
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        buf.write(b"%d\n" % len(data))
        buf.write(data)
    return buf.getvalue()


def read_pack(pack: BinaryIO, spool: Path) -> Iterator[tuple[str, Path, int]]:
    """Yield ``(sha256, file, size)`` for each blob of the pack, spooled to its own file."""
    while header := pack.readline(24):
        if not header.endswith(b"\n") or not header[:-1].isdigit():
            raise BadPack(f"malformed pack: expected '<size>\\n', got {header[:24]!r}")
        size = int(header)
        digest = hashlib.sha256()
        path = spool / f"pack-{uuid.uuid4().hex}"
        left = size
        with open(path, "wb") as f:
            while left:
                chunk = pack.read(min(CHUNK, left))
                if not chunk:
                    f.close()
                    path.unlink()
                    raise BadPack(f"the pack ends {left} bytes short of a {size}-byte blob")
                digest.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        yield digest.hexdigest(), path, size
