"""Send folders as trees (only the blobs the server lacks) and download trees into folders."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from dataset_mounter.scan import HashCache, scan_folder
from dataset_mounter.tree import Tree, hash_file
from floe.core.durations import format_elapsed
from floe.core.sizes import format_size, parse_size

from .api import FloeClient, FloeError, job_path
from .ignore import IgnoreRules
from .login import cache_dir

# Files the CLI itself keeps in a dataset folder; never part of the data.
LOCAL_FILES = (".floedata",)


class Progress:
    """One line of progress on stderr (updated in place on a terminal, at the end otherwise)."""

    def __init__(self, verb: str, files: int, total_bytes: int) -> None:
        self.verb, self.files, self.total = verb, files, total_bytes
        self.done_files = self.done_bytes = 0
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.started = time.monotonic()

    def add(self, size: int) -> None:
        self.done_files += 1
        self.done_bytes += size
        if self.tty and time.monotonic() - self.last > 0.2:
            self.last = time.monotonic()
            sys.stderr.write("\r" + self.line())

    def line(self) -> str:
        """``uploading 3/10 files, 1.2 GiB of 4.0 GiB, 210 MiB/s, 14 s left`` (the rate and
        time left once there is something to tell them by)."""
        text = (
            f"{self.verb} {self.done_files}/{self.files} files, "
            f"{format_size(self.done_bytes)} of {format_size(self.total)}"
        )
        seconds = time.monotonic() - self.started
        if seconds <= 0 or not self.done_bytes:
            return text
        rate = self.done_bytes / seconds
        text += f", {format_size(int(rate))}/s"
        left = self.total - self.done_bytes
        if left > 0:
            text += f", {format_elapsed(left / rate)} left"
        else:
            text += f" in {format_elapsed(seconds)}"
        return text

    def close(self) -> None:
        sys.stderr.write(("\r" if self.tty else "") + self.line() + "\n")


# Blobs smaller than this travel together in packs of up to PACK_BYTES / PACK_BLOBS.
SMALL_BLOB = 1024 * 1024
PACK_BYTES = 8 * 1024 * 1024
PACK_BLOBS = 2000


def _batches(blobs: list[str], sizes: dict[str, int]) -> list[list[str]]:
    """Large blobs one by one, small ones grouped, so many small files are few requests."""
    batches: list[list[str]] = []
    pack: list[str] = []
    pack_size = 0
    for blob in blobs:
        if sizes[blob] >= SMALL_BLOB:
            batches.append([blob])
            continue
        if pack and (pack_size + sizes[blob] > PACK_BYTES or len(pack) >= PACK_BLOBS):
            batches.append(pack)
            pack, pack_size = [], 0
        pack.append(blob)
        pack_size += sizes[blob]
    if pack:
        batches.append(pack)
    return batches


def _send_blobs(
    client: FloeClient, blobs: list[str], sources: dict[str, str], sizes: dict[str, int]
) -> None:
    progress = Progress("uploading", len(blobs), sum(sizes[b] for b in blobs))

    def send(batch: list[str]) -> None:
        if len(batch) == 1 and sizes[batch[0]] >= SMALL_BLOB:
            client.put_blob(batch[0], sources[batch[0]])
        else:
            client.put_pack([sources[b] for b in batch])
        for blob in batch:
            progress.add(sizes[blob])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, _batches(blobs, sizes)))
    progress.close()


def upload_tree(
    client: FloeClient,
    folder: Path,
    commit: Callable[[list[dict]], dict],
    *,
    include: Callable[[str], bool] | None = None,
    max_bytes: int | None = None,
    allow_empty: bool = False,
) -> dict:
    """Send the blobs of ``folder`` the server lacks, then ``commit(manifest)`` and return it.

    Used for dataset versions, jobs' code snapshots and saved workspace outputs alike.
    """
    tree, sources = scan_folder(
        folder, HashCache(cache_dir() / "hashes.sqlite"), include=include, max_bytes=max_bytes
    )
    tree = Tree.from_entries([e for e in tree.entries if e.path not in LOCAL_FILES])
    if not tree.entries and not allow_empty:
        raise FloeError(f"{folder} has no files to upload")
    sizes = {e.sha256: e.size for e in tree.entries}
    for attempt in range(3):
        missing = client.missing_blobs(sorted(tree.blob_ids())) if tree.entries else []
        _send_blobs(client, missing, sources, sizes)
        try:
            return commit(tree.to_manifest())
        except FloeError as err:
            # Another upload may have lost a blob we counted on; send what is still missing.
            if err.status != 409 or "missing" not in err.body or attempt == 2:
                raise
    raise AssertionError("unreachable")


def code_max_bytes() -> int:
    """How much a job's code snapshot may hold: ``FLOE_CODE_MAX_SIZE`` (default ``100Mi``)."""
    for old in ("FLOE_CODE_MAX_MIB", "FLOE_SNAPSHOT_MAX_BYTES"):
        if old in os.environ:
            raise FloeError(f"{old} is now FLOE_CODE_MAX_SIZE, a size like '100Mi'")
    raw = os.environ.get("FLOE_CODE_MAX_SIZE", "100Mi")
    try:
        return parse_size(raw)
    except ValueError:
        raise FloeError(f"FLOE_CODE_MAX_SIZE={raw!r} must be a size like '100Mi'") from None


def submit_with_code(client: FloeClient, folder: Path, job: dict, endpoint: str = "jobs") -> dict:
    """Submit ``job`` with ``folder`` as its code: ``.floeignore`` honoured, at most
    :func:`code_max_bytes`, only the blobs the server lacks sent (``floe run``, Run as job).
    ``endpoint`` "tasks": a sweep of jobs over parameters."""
    rules = IgnoreRules.for_folder(folder)
    return upload_tree(
        client,
        folder,
        lambda manifest: client.json("POST", endpoint, json={**job, "code": manifest}),
        include=rules.included,
        max_bytes=code_max_bytes(),
        allow_empty=True,
    )


def upload_folder(client: FloeClient, full_name: str, folder: Path, message: str) -> dict:
    """Make the folder the next version of ``full_name``; returns the new version."""
    return upload_tree(client, folder, lambda manifest: client.commit(full_name, manifest, message))


def download_files(files: list[dict], dest: Path, fetch: Callable[[str, Path], None]) -> None:
    """Write ``files`` (manifest entries) under ``dest`` with ``fetch(path, target)``.

    Files already there and whole are kept; every file is checked against its sha256.
    """
    progress = Progress("downloading", len(files), sum(f["size"] for f in files))
    for entry in files:
        target = dest / entry["path"]
        if not target.resolve().is_relative_to(dest.resolve()):
            raise FloeError(f"refusing {entry['path']!r}: it would be written outside {dest}")
        if not (target.exists() and hash_file(target) == entry["sha256"]):
            target.parent.mkdir(parents=True, exist_ok=True)
            fetch(entry["path"], target)
            if hash_file(target) != entry["sha256"]:
                raise FloeError(f"{entry['path']} arrived damaged; run the download again")
            if entry.get("mode", 0) & 0o111:
                os.chmod(target, 0o755)
        progress.add(entry["size"])
    progress.close()


def download_version(client: FloeClient, full_name: str, number: int | None, dest: Path) -> dict:
    """Write a version's files under ``dest``."""
    if number is None:
        number = client.dataset(full_name)["latest_version"]
        if number is None:
            raise FloeError(f"{full_name} has no versions yet")
    version = client.version(full_name, number)
    download_files(
        version["files"],
        dest,
        lambda path, target: client.download_file(
            f"datasets/{full_name}/versions/{number}/files/{quote(path)}", target
        ),
    )
    return version


def download_job_tree(client: FloeClient, job: str, dest: Path, part: str = "output") -> dict:
    """Write the files of a job's ``part`` under ``dest``: its output, or the code it ran."""
    tree = client.json("GET", job_path(job, part))
    download_files(
        tree["files"],
        dest,
        lambda path, target: client.download_file(
            job_path(job, part, "files", quote(path)), target
        ),
    )
    return tree
