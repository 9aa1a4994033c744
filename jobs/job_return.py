"""A job's folder coming back from the machine it ran on (``SwarmBackend`` with the volume
plugin): the service's side.

The node's plugin (``floe_node.job_volumes``) sends the log as it grows, then, once the container
has exited, the rest of the log, the result note and ``/output`` (a tar stream), and last says
the folder is back. Each piece lands in the job's folder here, so the runner reads metrics and
keeps the output exactly as it does for a job on this machine. Everything the node sends was
written by the job, so it is treated as a hostile user's upload: bounded, and unpacked only as
plain files and folders inside ``/output`` (the node sends a link to a file inside /output as
that file, and lists what it left out in the log, as keeping a local /output does): no link is
ever made here, so no path can lead out of the job's folder.
"""

from __future__ import annotations

import os
import tarfile
import threading
from collections import defaultdict
from pathlib import Path

from .job_folder import JobFolder, skipped_lines
from .limits import JobLimits

RECEIVED_FILE = "node_log_bytes"  # log bytes received from the node so far
RETURNED_FILE = "returned"  # the node sent everything
AWAITED_FILE = "awaited"  # the runner saw the container end and waits for the rest
UNPACKED_FILE = "output_unpacked"  # /output arrived (a repeat of the upload is not unpacked)
RESULT_NOTE_BYTES = 64 * 1024
# Past its cap a log is still counted (so the node moves on) but no longer written: the
# runner stops the job at the cap, and this bounds what arrives meanwhile.
LOG_SLACK_BYTES = 64 * 1024**2
SKIPPED_LISTED = 1000  # members left out of /output listed one by one; the rest counted

_lock = threading.Lock()  # appends are short; one lock keeps each job's count and log in step
_unpacking: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def received(folder: JobFolder) -> int:
    try:
        return int((folder.path / RECEIVED_FILE).read_text() or 0)
    except (OSError, ValueError):
        return 0


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def append_log(folder: JobFolder, offset: int, data: bytes, limits: JobLimits) -> int:
    """Add the node's log bytes from ``offset`` on (a repeat of bytes already here is skipped,
    a gap is not filled: the node sends again from the count answered); the count now."""
    with _lock:
        count = received(folder)
        if offset > count or offset + len(data) <= count:
            return count
        new = data[count - offset :]
        try:
            size = folder.log.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < limits.max_log_bytes + LOG_SLACK_BYTES:
            folder.append_bytes(new)
        count += len(new)
        _write_atomically(folder.path / RECEIVED_FILE, str(count))
        return count


def write_result(folder: JobFolder, data: bytes) -> None:
    """The job's result note (``jobs/container/entry.py`` writes it as its last act)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    with os.fdopen(os.open(folder.result_note, flags, 0o644), "wb") as note:
        note.write(data[:RESULT_NOTE_BYTES])


# Said in the job's log in place of tarfile's words, which name this machine's paths.
_REFUSED = {
    tarfile.OutsideDestinationError: "would land outside /output",
    tarfile.AbsolutePathError: "is an absolute path",
}


def _shown(name: str) -> str:
    """A member's path in /output, as the job wrote it (tar's leading ./ aside)."""
    return name.removeprefix("./") or "."


def unpack_output(folder: JobFolder, tar_path: Path, limits: JobLimits) -> None:
    """Unpack the node's tar of /output into the folder's /output: regular files and folders
    inside it only, up to the job's caps (``JobLimits``); what is left out is listed at the
    end of the log. Once per job: a repeated upload (the node's retry) is not unpacked again."""
    with _unpacking[str(folder.path)]:
        if (folder.path / UNPACKED_FILE).exists():
            return
        skipped, more = _unpack(folder, tar_path, limits)
        more_lines = [f"… and {more:,} more not kept from /output"] if more else []
        folder.note(skipped_lines(skipped, SKIPPED_LISTED) + more_lines)
        (folder.path / UNPACKED_FILE).touch()
    _unpacking.pop(str(folder.path), None)


def _unpack(
    folder: JobFolder, tar_path: Path, limits: JobLimits
) -> tuple[list[tuple[str, str]], int]:
    """What was left out (the first SKIPPED_LISTED) and how many more were."""
    skipped: list[tuple[str, str]] = []
    more = 0
    left = {"bytes": limits.max_output_bytes, "entries": limits.max_output_files}
    folder.output.mkdir(exist_ok=True)
    dest = str(folder.output)

    def refuse(member: tarfile.TarInfo, why: str) -> None:
        nonlocal more
        if len(skipped) < SKIPPED_LISTED:
            skipped.append((_shown(member.name), why))
        else:
            more += 1

    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            while (member := tar.next()) is not None:
                tar.members.clear()  # nothing kept per member: millions of them cost nothing
                if not (member.isfile() or member.isdir()):
                    refuse(member, "is not a plain file or folder")
                    continue
                if left["entries"] <= 0:
                    refuse(member, "past the cap on files")
                    continue
                try:
                    safe = tarfile.data_filter(member, dest)
                except tarfile.FilterError as err:
                    refuse(member, _REFUSED.get(type(err), "could not be unpacked"))
                    continue
                if safe.isfile() and safe.size > left["bytes"]:
                    refuse(member, "past the cap on bytes")
                    continue
                try:
                    tar.extract(safe, dest, filter=lambda checked, _dest: checked)
                except (OSError, tarfile.TarError):
                    refuse(member, "could not be unpacked")
                    continue
                left["entries"] -= 1
                left["bytes"] -= safe.size if safe.isfile() else 0
    except (tarfile.TarError, EOFError, OSError):
        skipped.append(("/output", "the node sent a damaged archive; what came before is kept"))
    return skipped, more


def mark_awaited(folder: JobFolder) -> None:
    (folder.path / AWAITED_FILE).touch()


def is_awaited(folder: JobFolder) -> bool:
    return (folder.path / AWAITED_FILE).exists()


def mark_returned(folder: JobFolder) -> None:
    (folder.path / RETURNED_FILE).touch()


def has_returned(folder: JobFolder) -> bool:
    return (folder.path / RETURNED_FILE).exists()
