"""Durations as people write and read them: ``90``, ``90s``, ``30m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"([0-9]{1,9})\s*([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in ``text`` (a number of seconds, or with s, m, h or d)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 3600, 90m or 2h")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """``45 s``, ``90 min``, ``2 h``, ``3 d``: the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def format_elapsed(seconds: float) -> str:
    """``0.4 s``, ``14 s``, ``3 min 5 s``, ``2 h 10 min``: how long, for a progress line."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
