"""Byte counts as people write and read them, the same on pages, in the CLI and in errors."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "k": 1000,
    "ki": 1024,
    "m": 1000**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gi": 1024**3,
    "t": 1000**4,
    "ti": 1024**4,
}


def parse_size(value: str | int) -> int:
    """Turn ``"2Gi"``, ``"512M"``, ``"100MiB"`` or a byte count into bytes."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value.strip())
    if not match:
        raise ValueError(f"size {value!r} is not a size like '2Gi', '512Mi' or '1073741824'")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").lower()])


def format_size(num: float) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``2 GiB``, ``256 MiB``."""
    unit = "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if abs(num) < 1024:
            break
        num, unit = num / 1024, bigger
    if unit == "B" or num == int(num):
        return f"{num:.0f} {unit}"
    return f"{num:.1f} {unit}"
