"""Files on this machine's disk that someone else may have made: opened only as the plain
file they claim to be, written whole, flushed.

A job (or a user) can put a link, a fifo or a device where Floe expects its own file; the
service runs as root, so following the link would read or write what it points at, and a
fifo would make it wait forever. ``open_plain`` is the one way Floe opens such a file.
"""

from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path

_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_plain(path: str | os.PathLike, flags: int = os.O_RDONLY) -> int:
    """A descriptor of the plain file at ``path`` opened with ``flags``, never through a link
    at its end and never waiting on a fifo; ``OSError`` when it is anything else."""
    fd = os.open(path, flags | _SAFE)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{os.fspath(path)} is not a plain file")
    return fd


def write_all(fd: int, data: bytes) -> None:
    """``data`` written to ``fd`` whole (``os.write`` may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def sync_filesystem(path: Path) -> None:
    """Flush the filesystem holding ``path`` (Linux ``syncfs``); ``sync`` where there is none."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)
