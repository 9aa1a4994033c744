"""How much one request may make the service hold or do: bodies are capped, and only read
once the caller is known."""

from __future__ import annotations

from traitlets import Integer
from traitlets.config import LoggingConfigurable


class RequestLimits(LoggingConfigurable):
    """Caps on request bodies; past them the answer is 413 and nothing is kept."""

    json_bytes = Integer(
        32 * 1024**2,
        config=True,
        help="""Largest JSON request body, in bytes. A dataset version's manifest is the largest
        (about 130 bytes a file: the default takes about 250,000 files).""",
    )
    pack_bytes = Integer(
        64 * 1024**2,
        config=True,
        help="Largest pack of small blobs in one request, in bytes (the floe client sends 8 MiB).",
    )
    blob_bytes = Integer(
        64 * 1024**3,
        config=True,
        help="Largest single blob (one file) in one upload, in bytes; it is spooled to disk.",
    )
