"""Send folders as trees (only the blobs the server lacks) and download trees into folders."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from urllib.parse import quote

from floe.core.durations import format_elapsed
from floe.core.sizes import format_size, parse_size
from floe.trees.scan import HashCache, LocalFile, hash_files, select_files, tree_of
from floe.trees.tree import hash_file

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
        self.stored_files = 0  # files the server had already: checked, not sent
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.started = time.monotonic()

    def add(self, size: int, sent: bool = True) -> None:
        self.done_files += 1
        self.done_bytes += size
        self.stored_files += not sent
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
        if self.stored_files:
            text += (
                f"; {self.done_files - self.stored_files} sent, {self.stored_files} stored already"
            )
        return text

    def close(self) -> None:
        sys.stderr.write(("\r" if self.tty else "") + self.line() + "\n")


# Blobs smaller than this travel together in packs of up to PACK_BYTES / PACK_BLOBS.
SMALL_BLOB = 1024 * 1024
PACK_BYTES = 8 * 1024 * 1024
PACK_BLOBS = 2000
# Requests in flight at once while uploading.
SENDERS = 4
# Files hashed, then offered to the server ("which of these do you lack?"), at a time.
GROUP_BYTES = 64 * 1024 * 1024
# Requests waiting to be sent, at most: hashing waits beyond (bounded memory, since the
# small files' bytes wait with them).
QUEUED = 2 * SENDERS


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


def _groups(files: list[LocalFile]) -> list[list[LocalFile]]:
    """Files in the order they are hashed and offered to the server, small ones first: a
    group closes at GROUP_BYTES or PACK_BLOBS files, so the first request leaves once the
    first group is hashed and a folder of many files costs few "which do you lack?" calls."""
    groups: list[list[LocalFile]] = []
    group: list[LocalFile] = []
    group_size = 0
    for f in sorted(files, key=lambda f: f.size >= SMALL_BLOB):
        if group and (group_size + f.size > GROUP_BYTES or len(group) >= PACK_BLOBS):
            groups.append(group)
            group, group_size = [], 0
        group.append(f)
        group_size += f.size
    if group:
        groups.append(group)
    return groups


class _Sender:
    """Sends batches of blobs on a few threads, counting what is done in the progress line;
    the first failure is raised at the next :meth:`check`."""

    def __init__(self, client: FloeClient, progress: Progress) -> None:
        self.client, self.progress = client, progress
        self.pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="floe-send")
        self.sending: list[Future] = []
        self.sources: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self.contents: dict[str, bytes] = {}  # small blobs' bytes, read as they were hashed

    def send(self, blobs: list[str]) -> None:
        for batch in _batches(blobs, self.sizes):
            while len(self.sending) >= QUEUED:
                wait(self.sending, return_when=FIRST_COMPLETED)
                self.check()
            self.sending.append(self.pool.submit(self._send_batch, batch))

    def _send_batch(self, batch: list[str]) -> None:
        if len(batch) == 1 and self.sizes[batch[0]] >= SMALL_BLOB:
            self.client.put_blob(batch[0], self.sources[batch[0]])
        else:
            contents = [self.contents.pop(b, None) for b in batch]
            self.client.put_pack([self.sources[b] for b in batch], contents)
        for blob in batch:
            self.progress.add(self.sizes[blob])

    def check(self) -> None:
        """Raise the error of a request that failed, if one has; forget those done."""
        for future in [f for f in self.sending if f.done()]:
            future.result()
            self.sending.remove(future)

    def finish(self) -> None:
        """Wait for every request; the first that failed raises."""
        for future in self.sending:
            future.result()
        self.sending = []

    def close(self) -> None:
        """Requests not started are dropped; those under way are waited for."""
        self.pool.shutdown(cancel_futures=True)


def _send_folder(
    client: FloeClient, files: list[LocalFile], hashes: dict[str, str], cache: HashCache
) -> None:
    """Hash ``files`` (those not in ``hashes`` yet) and send the blobs the server lacks, the
    next group hashed while the one before is being sent; fills ``hashes`` and the hash
    cache (also when a request fails: the next try hashes nothing twice)."""
    progress = Progress("uploading", len(files), sum(f.size for f in files))
    sender = _Sender(client, progress)
    offered: set[str] = set()
    hashing = ThreadPoolExecutor(2, thread_name_prefix="floe-hash")
    ahead = ThreadPoolExecutor(1, thread_name_prefix="floe-hash-ahead")

    def hash_group(group: list[LocalFile]) -> tuple[dict[str, str], dict[str, bytes]]:
        contents: dict[str, bytes] = {}
        return hash_files(
            [f for f in group if f.path not in hashes], hashing, None, contents
        ), contents

    groups = _groups(files)
    try:
        next_hashes = ahead.submit(hash_group, groups[0]) if groups else None
        for i, group in enumerate(groups):
            new, contents = next_hashes.result()
            # One group ahead at most: an error stops the upload without hashing the rest.
            next_hashes = ahead.submit(hash_group, groups[i + 1]) if i + 1 < len(groups) else None
            hashes.update(new)
            cache.store([f for f in group if f.path in new], hashes)
            fresh: dict[str, LocalFile] = {}
            for f in group:
                sha = hashes[f.path]
                if sha in offered or sha in fresh:
                    progress.add(f.size, sent=False)  # the same bytes as a file before
                else:
                    fresh[sha] = f
            offered.update(fresh)
            missing = client.missing_blobs(sorted(fresh)) if fresh else []
            for sha in set(fresh) - set(missing):
                progress.add(fresh[sha].size, sent=False)  # the server has it
            for sha in missing:
                sender.sources[sha], sender.sizes[sha] = fresh[sha].path, fresh[sha].size
                if fresh[sha].path in contents:
                    sender.contents[sha] = contents[fresh[sha].path]
            sender.check()
            sender.send(missing)
        sender.finish()
    finally:
        sender.close()
        ahead.shutdown(cancel_futures=True)
        hashing.shutdown(cancel_futures=True)
    progress.close()


def _send_blobs(
    client: FloeClient, blobs: list[str], sources: dict[str, str], sizes: dict[str, int]
) -> None:
    progress = Progress("uploading", len(blobs), sum(sizes[b] for b in blobs))
    sender = _Sender(client, progress)
    sender.sources, sender.sizes = sources, sizes
    try:
        sender.send(blobs)
        sender.finish()
    finally:
        sender.close()
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

    Files are hashed a group at a time (their hashes kept in the client's hash cache) and
    each group is offered as soon as it is hashed, so hashing and sending overlap. Used for
    dataset versions, jobs' code snapshots and saved workspace outputs alike.
    """
    files = select_files(folder, include=include, max_bytes=max_bytes)
    files = [f for f in files if f.rel not in LOCAL_FILES]
    if not files and not allow_empty:
        raise FloeError(f"{folder} has no files to upload")
    cache = HashCache(cache_dir() / "hashes.sqlite")
    hashes = cache.lookup(files)
    _send_folder(client, files, hashes, cache)
    tree = tree_of(files, hashes)
    sources = {hashes[f.path]: f.path for f in files}
    sizes = {e.sha256: e.size for e in tree.entries}
    for attempt in range(3):
        try:
            return commit(tree.to_manifest())
        except FloeError as err:
            # Another upload may have lost a blob we counted on; send what is still missing.
            if err.status != 409 or "missing" not in err.body or attempt == 2:
                raise
        _send_blobs(client, client.missing_blobs(sorted(tree.blob_ids())), sources, sizes)
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


# Files fetched at once while downloading.
FETCHERS = 4


def download_files(files: list[dict], dest: Path, fetch: Callable[[str, Path, str], None]) -> None:
    """Write ``files`` (manifest entries) under ``dest`` with ``fetch(path, target, sha256)``,
    a few at a time; ``fetch`` checks the bytes against the sha256 as it writes them.

    Files already there and whole are kept.
    """
    root = dest.resolve()
    for entry in files:
        if not (dest / entry["path"]).resolve().is_relative_to(root):
            raise FloeError(f"refusing {entry['path']!r}: it would be written outside {dest}")
    progress = Progress("downloading", len(files), sum(f["size"] for f in files))

    def one(entry: dict) -> None:
        target = dest / entry["path"]
        if not (target.exists() and hash_file(target) == entry["sha256"]):
            target.parent.mkdir(parents=True, exist_ok=True)
            fetch(entry["path"], target, entry["sha256"])
            if entry.get("mode", 0) & 0o111:
                os.chmod(target, 0o755)
        progress.add(entry["size"])

    pool = ThreadPoolExecutor(FETCHERS, thread_name_prefix="floe-fetch")
    try:
        for done in [pool.submit(one, entry) for entry in files]:
            done.result()
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure, the files not begun are not
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
        lambda path, target, sha256: client.download_file(
            f"datasets/{full_name}/versions/{number}/files/{quote(path)}", target, sha256
        ),
    )
    return version


def download_job_tree(client: FloeClient, job: str, dest: Path, part: str = "output") -> dict:
    """Write the files of a job's ``part`` under ``dest``: its output, or the code it ran."""
    tree = client.json("GET", job_path(job, part))
    download_files(
        tree["files"],
        dest,
        lambda path, target, sha256: client.download_file(
            job_path(job, part, "files", quote(path)), target, sha256
        ),
    )
    return tree
