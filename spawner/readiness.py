"""Notice the moment a workspace's server answers.

JupyterHub checks a new server with exponential backoff (0.2 s, 0.4 s, 0.8 s, 1.6 s, …), so a
server that is up after 2.5 s is often noticed only at 3 s or 6 s. Polling at a short, fixed
interval while the container starts costs a few cheap local connections and hands the user
their JupyterLab as soon as it can answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tornado.httpclient import AsyncHTTPClient, HTTPClientError


class ServerExited(Exception):
    """The container stopped before its server answered."""


async def wait_until_answering(
    url: str,
    *,
    timeout: float,
    interval: float,
    still_running: Callable[[], Awaitable[bool]],
    check_every: float = 1.0,
) -> bool:
    """Return True once ``url`` gives any HTTP answer below 500, False after ``timeout``.

    Raises :class:`ServerExited` as soon as ``still_running()`` says the container is gone.
    """
    client = AsyncHTTPClient()
    deadline = time.monotonic() + timeout
    next_check = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() >= next_check:
            if not await still_running():
                raise ServerExited(url)
            next_check = time.monotonic() + check_every
        try:
            await client.fetch(url, follow_redirects=False, request_timeout=2, raise_error=True)
            return True
        except HTTPClientError as err:
            if err.code < 500:
                return True
        except OSError:
            pass  # not listening yet
        await asyncio.sleep(interval)
    return False
