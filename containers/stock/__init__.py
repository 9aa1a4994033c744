"""Floe's own environments' requirements: pinned lists, one file each (``stock:NAME``)."""

from __future__ import annotations

from pathlib import Path

STOCK_DIR = Path(__file__).resolve().parent
PREFIX = "stock:"


def requirements_path(name: str) -> Path:
    """The requirements file a catalog entry names: ``stock:NAME`` or a path on the node."""
    if name.startswith(PREFIX):
        path = STOCK_DIR / f"{name[len(PREFIX) :]}.txt"
        if path.parent != STOCK_DIR or not path.is_file():
            known = ", ".join(PREFIX + p.stem for p in sorted(STOCK_DIR.glob("*.txt")))
            raise ValueError(f"no stock requirements {name!r} (there are {known})")
        return path
    path = Path(name)
    if not path.is_absolute() or not path.is_file():
        raise ValueError(f"requirements {name!r} must be an absolute path to a file")
    return path
