"""Job logs: a plain file per job, written by the container itself; metric lines read from it.

A metric line is Valohai's convention: one JSON object alone on a stdout line, e.g.
``{"step": 10, "loss": 0.31}``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from floe.core.disk import open_plain
from floe.core.jsonvalues import NotKeepable, loads_keepable

_METRIC_LINE = re.compile(rb"^[ \t]*(\{[^\n]*\})[ \t\r]*$", re.MULTILINE)
READ_CHUNK = 1 << 20
# A metric line is a few numbers: a longer "metric" is just a log line (and no chart needs it).
MAX_METRIC_LINE = 4096


def parse_metrics(data: bytes, most: int | None = None) -> tuple[list[dict], int]:
    """The metric objects in ``data`` (whole lines), in order, and how many lines looked like
    one (each counts toward a job's cap, kept or not); stops after ``most`` such lines."""
    found, seen = [], 0
    for match in _METRIC_LINE.finditer(data):
        if most is not None and seen >= most:
            break
        seen += 1
        if len(match.group(1)) > MAX_METRIC_LINE:
            continue
        try:
            value = loads_keepable(match.group(1).decode("utf-8"), non_finite_as_null=True)
        except (NotKeepable, UnicodeDecodeError):
            continue  # not a metric (or one the API could not give back): just a log line
        if isinstance(value, dict) and value:
            found.append(value)
    return found, seen


def read_whole_lines(path: Path, offset: int, limit: int = READ_CHUNK) -> bytes:
    """Bytes from ``offset`` up to the last complete line (at most ``limit`` of them); a
    line longer than ``limit`` is given in pieces, so reading always moves on."""
    data = read_from(path, offset, limit)
    end = data.rfind(b"\n")
    if end < 0 and len(data) == limit:
        return data  # part of a line longer than any metric: no metric in it
    return data[: end + 1] if end >= 0 else b""


def read_from(path: Path, offset: int, limit: int = READ_CHUNK) -> bytes:
    """Whatever the file the job wrote holds from ``offset`` (partial lines included).

    Never follows a link: what a job wrote is read, not a host file it pointed at.
    """
    try:
        fd = open_plain(path)
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as f:
        if offset >= os.fstat(fd).st_size:
            return b""
        f.seek(offset)
        return f.read(limit)
