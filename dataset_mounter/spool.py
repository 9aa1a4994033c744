"""An upload's bytes on their way to disk: hashed and written off the event loop.

The service receives a request body in chunks on its one event loop. Hashing (sha256 runs
at about 1.7 GB/s on a core) and writing there would make every upload share one core and
stall every other request meanwhile. A :class:`Spool` gathers chunks into batches of a few
MiB and hands each batch to a worker thread (hashlib and file writes release the GIL), at
most one batch in flight per upload, so a fast sender is slowed down instead of filling memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BATCH_BYTES = 4 * 1024 * 1024

# Shared by all uploads of the process: one thread per core is all hashing can use.
_workers = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="floe-spool")


class Spool:
    """A temporary file under ``folder`` receiving one upload; sha256 and size as it goes.

    ``hashed=False`` for bodies whose parts are hashed one by one later (packs).
    """

    def __init__(self, folder: Path, hashed: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.NamedTemporaryFile(dir=folder, delete=False)  # noqa: SIM115
        self.path = Path(self._file.name)
        self._hash = hashlib.sha256() if hashed else None
        self.size = 0
        self._batch: list[bytes] = []
        self._batched = 0
        self._in_flight: asyncio.Future | None = None

    async def add(self, chunk: bytes) -> None:
        """Take a chunk; waits only when a full batch is ready and the last one is not done."""
        self._batch.append(chunk)
        self._batched += len(chunk)
        self.size += len(chunk)
        if self._batched >= BATCH_BYTES:
            await self._hand_over()

    async def finish(self) -> str:
        """Write what is left, close the file and return the sha256 of everything received
        ("" when not hashed)."""
        await self._hand_over()
        if self._in_flight is not None:
            await self._in_flight
        self._file.close()
        return self._hash.hexdigest() if self._hash else ""

    def discard(self) -> None:
        """Remove the file (an upload that ended, well or not); safe to call twice."""
        if self._in_flight is not None and not self._in_flight.done():
            # Cut off mid-batch: let the worker finish with the file before it goes.
            self._in_flight.add_done_callback(lambda _: self.discard())
            return
        if self._in_flight is not None and not self._in_flight.cancelled():
            self._in_flight.exception()  # seen: a write that failed is not logged twice
        self._file.close()
        self.path.unlink(missing_ok=True)

    async def _hand_over(self) -> None:
        if self._in_flight is not None:
            await self._in_flight
        batch, self._batch, self._batched = self._batch, [], 0
        if batch:
            loop = asyncio.get_running_loop()
            self._in_flight = loop.run_in_executor(_workers, self._consume, batch)

    def _consume(self, batch: list[bytes]) -> None:
        if self._hash:
            for chunk in batch:
                self._hash.update(chunk)
        self._file.writelines(batch)
