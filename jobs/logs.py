"""Job logs: a plain file per job, written by the container itself; metric lines read from it.

A metric line is Valohai's convention: one JSON object alone on a stdout line, e.g.
``{"step": 10, "loss": 0.31}``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from floe.core.jsonvalues import NotKeepable, loads_keepable

_METRIC_LINE = re.compile(rb"^[ \t]*(\{[^\n]*\})[ \t\r]*$", re.MULTILINE)
READ_CHUNK = 8 << 20


def parse_metrics(data: bytes) -> list[dict]:
    """Every metric object in ``data`` (whole lines), in order."""
    found = []
    for match in _METRIC_LINE.finditer(data):
        try:
            value = loads_keepable(match.group(1).decode("utf-8"), non_finite_as_null=True)
        except (NotKeepable, UnicodeDecodeError):
            continue  # not a metric (or one the API could not give back): just a log line
        if isinstance(value, dict) and value:
            found.append(value)
    return found


def read_whole_lines(path: Path, offset: int, limit: int = READ_CHUNK) -> bytes:
    """Bytes from ``offset`` up to the last complete line (at most ``limit`` of them)."""
    data = read_from(path, offset, limit)
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def read_from(path: Path, offset: int, limit: int = READ_CHUNK) -> bytes:
    """Whatever the file the job wrote holds from ``offset`` (partial lines included).

    Never follows a link: what a job wrote is read, not a host file it pointed at.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, OSError):
        return b""
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or offset >= info.st_size:
            return b""
        f.seek(offset)
        return f.read(limit)
