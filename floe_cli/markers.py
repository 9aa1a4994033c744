"""What a folder is to the command line: a project (``.floe``) or a dataset (``.floedata``)."""

from __future__ import annotations

import json
from pathlib import Path

from floe.core.refs import JobRef

from .verbs import UsageError

PROJECT_FILE = ".floe"
DATA_FILE = ".floedata"


def _marker(path: Path, key: str) -> str | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())[key]
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            f"{path} is damaged; run `floe init` (or `floe data init`) again"
        ) from None


def project_here(folder: Path = Path(".")) -> str | None:
    return _marker(folder / PROJECT_FILE, "project")


def dataset_here(folder: Path = Path(".")) -> str | None:
    return _marker(folder / DATA_FILE, "dataset")


def mark(path: Path, key: str, value: str) -> None:
    path.write_text(json.dumps({key: value}) + "\n")


def job_ref(text: str) -> JobRef:
    """``alice/cats/4``, ``cats/4``, or ``4`` (job 4 of this folder's project)."""
    return JobRef.in_project(text, project_here())
