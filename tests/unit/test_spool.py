"""The upload spool: bytes hashed and written off the event loop, in order, nothing left over."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from dataset_mounter.spool import BATCH_BYTES, Spool


def test_spool_keeps_every_byte_in_order_and_hashes_them(tmp_path: Path) -> None:
    # Uneven chunks, several batches, a last partial one: the file and hash are the body's.
    chunks = [os.urandom(n) for n in (1, 65_536, 3_000_000, 1_048_576, 7, 5_000_000, 12_345)]
    body = b"".join(chunks)
    assert len(body) > 2 * BATCH_BYTES

    async def upload() -> tuple[Spool, str]:
        spool = Spool(tmp_path / "spool")
        for chunk in chunks:
            await spool.add(chunk)
        return spool, await spool.finish()

    spool, sha256 = asyncio.run(upload())
    assert sha256 == hashlib.sha256(body).hexdigest()
    assert spool.size == len(body)
    assert spool.path.read_bytes() == body
    spool.discard()
    assert list((tmp_path / "spool").iterdir()) == []


def test_an_unhashed_spool_keeps_the_bytes_alone(tmp_path: Path) -> None:
    async def upload() -> tuple[Spool, str]:
        spool = Spool(tmp_path / "spool", hashed=False)
        await spool.add(b"3\nabc")
        return spool, await spool.finish()

    spool, sha256 = asyncio.run(upload())
    assert (sha256, spool.path.read_bytes(), spool.size) == ("", b"3\nabc", 5)


def test_spool_cut_off_mid_batch_leaves_nothing(tmp_path: Path) -> None:
    async def cut_off() -> None:
        spool = Spool(tmp_path / "spool")
        for _ in range(3):  # a full batch goes to the worker, the connection then drops
            await spool.add(os.urandom(BATCH_BYTES // 2))
        spool.discard()
        await asyncio.sleep(0)
        for _ in range(100):
            if not spool.path.exists():
                return
            await asyncio.sleep(0.05)

    asyncio.run(cut_off())
    assert list((tmp_path / "spool").iterdir()) == []
