"""The threads the service's blocking work runs on, off its event loop: one pool for what
requests ask of the database and the store, and one of its own for taking in uploads, so a
flood of uploads never holds up anyone's page or listing."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tornado.ioloop import IOLoop

_work = ThreadPoolExecutor(8, thread_name_prefix="floe-work")
_uploads = ThreadPoolExecutor(2, thread_name_prefix="floe-upload")


async def off_loop(work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)`` on a worker thread."""
    return await IOLoop.current().run_in_executor(_work, work, *args)


async def upload(work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)`` on an upload thread (hashing, writing and recording blobs)."""
    return await IOLoop.current().run_in_executor(_uploads, work, *args)
