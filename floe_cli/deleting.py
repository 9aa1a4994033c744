"""``floe delete JOB`` and ``floe data delete NAME[:N]`` (FloydHub's): refused while something
depends on what is deleted; asks first on a terminal, unless ``--yes``."""

from __future__ import annotations

import argparse
import sys

from floe.client.api import FloeClient, job_path
from floe.core.sizes import format_size

from .data import dataset_ref
from .markers import job_ref
from .verbs import UsageError, verb


def confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"deleting {what} cannot be undone: add --yes to go on")
    answer = input(f"delete {what}? This cannot be undone. [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("nothing was deleted")


def cmd_delete(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.job(job_ref(args.job))
    confirm(f"{job['name']} (its log, metrics, output and code)", args.yes)
    gone = client.json("DELETE", job_path(job["id"]))
    print(f"{job['name']} deleted; {format_size(gone['freed_bytes'])} freed at once")
    return 0


def cmd_data_delete(client: FloeClient, args: argparse.Namespace) -> int:
    ref = dataset_ref(client, args.name)
    path = f"datasets/{ref.owner}/{ref.name}"
    if ref.version is not None:
        path += f"/versions/{ref.version}"
    confirm(f"{ref}" if ref.version else f"{ref} and all its versions", args.yes)
    gone = client.json("DELETE", path)
    versions = ", ".join(str(n) for n in gone["versions"]) or "none"
    print(f"{ref} deleted (versions {versions}); {format_size(gone['freed_bytes'])} freed at once")
    return 0


def add_verbs(verbs: argparse._SubParsersAction, data: argparse._SubParsersAction) -> None:
    delete = verb(verbs, "delete", cmd_delete, "delete a finished job nothing depends on")
    delete.add_argument("job", help="alice/cats/4, cats/4 or 4")
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask first")
    data_delete = verb(
        data, "delete", cmd_data_delete, "delete a dataset version (NAME:N) or a whole dataset"
    )
    data_delete.add_argument("name", help="mnist:2 (a version) or mnist (all its versions)")
    data_delete.add_argument("-y", "--yes", action="store_true", help="do not ask first")
