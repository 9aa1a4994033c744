"""A job's folder coming back from the machine it ran on (``SwarmBackend`` with the volume
plugin): the service's side.

The node's plugin (``jobs.job_volumes``) sends the log as it grows, then, once the container
has exited, the rest of the log, the result note and ``/output`` (a tar stream), and last says
the folder is back. Each piece lands in the job's folder here, so the runner reads metrics and
keeps the output exactly as it does for a job on this machine. Everything the node sends was
written by the job, so it is treated as a hostile user's upload: bounded, and unpacked only
as plain files, folders and links that stay inside ``/output``.
"""

from __future__ import annotations

import os
import tarfile
import threading
from pathlib import Path

from .job_folder import JobFolder, skipped_lines
from .limits import JobLimits

RECEIVED_FILE = "node_log_bytes"  # log bytes received from the node so far
RETURNED_FILE = "returned"  # the node sent everything
RESULT_NOTE_BYTES = 64 * 1024
# Past its cap a log is still counted (so the node moves on) but no longer written: the
# runner stops the job at the cap, and this bounds what arrives meanwhile.
LOG_SLACK_BYTES = 64 * 1024**2

_lock = threading.Lock()  # appends are short; one lock keeps each job's count and log in step


def received(folder: JobFolder) -> int:
    try:
        return int((folder.path / RECEIVED_FILE).read_text() or 0)
    except (OSError, ValueError):
        return 0


def append_log(folder: JobFolder, offset: int, data: bytes, limits: JobLimits) -> int:
    """Add the node's log bytes from ``offset`` on (a repeat of bytes already here is skipped,
    a gap is not filled: the node sends again from the count answered); the count now."""
    with _lock:
        count = received(folder)
        if offset > count or offset + len(data) <= count:
            return count
        new = data[count - offset :]
        if folder.log.stat().st_size < limits.max_log_bytes + LOG_SLACK_BYTES:
            folder.append_bytes(new)
        count += len(new)
        (folder.path / RECEIVED_FILE).write_text(str(count))
        return count


def write_result(folder: JobFolder, data: bytes) -> None:
    """The job's result note (``jobs/container/entry.py`` writes it as its last act)."""
    fd = os.open(folder.result_note, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    with os.fdopen(fd, "wb") as note:
        note.write(data[:RESULT_NOTE_BYTES])


def unpack_output(folder: JobFolder, tar_path: Path, limits: JobLimits) -> None:
    """Unpack the node's tar of /output into the folder's /output: regular files, folders and
    links inside it only, up to the job's caps (``JobLimits``); what is left out is listed at
    the end of the log, as keeping a local /output lists it."""
    skipped: list[tuple[str, str]] = []
    # Room for folders too (keeping counts what it keeps exactly; this bounds the disk).
    budget = {"bytes": limits.max_output_bytes, "entries": 2 * limits.max_output_files + 1000}

    def only_safe(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        name = _shown(member.name)
        if budget["entries"] <= 0:
            skipped.append((name, "past the cap on files"))
            return None
        try:
            member = tarfile.data_filter(member, dest)
        except tarfile.FilterError as err:
            skipped.append((name, _REFUSED.get(type(err), "is not a plain file")))
            return None
        if member.isfile():
            if member.size > budget["bytes"]:
                skipped.append((name, "past the cap on bytes"))
                return None
            budget["bytes"] -= member.size
        budget["entries"] -= 1
        return member

    folder.output.mkdir(exist_ok=True)
    dest = str(folder.output)
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                safe = only_safe(member, dest)
                if safe is None:
                    continue
                try:
                    tar.extract(safe, dest, filter=lambda checked, _dest: checked)
                except (OSError, KeyError, tarfile.TarError):  # e.g. a link to one left out
                    skipped.append((_shown(member.name), "could not be unpacked"))
    except (tarfile.TarError, EOFError, OSError):
        skipped.append(("/output", "the node sent a damaged archive; what came before is kept"))
    folder.note(skipped_lines(skipped))


# Said in the job's log in place of tarfile's words, which name this machine's paths.
_REFUSED = {
    tarfile.OutsideDestinationError: "would land outside /output",
    tarfile.AbsoluteLinkError: "is a link to an absolute path",
    tarfile.LinkOutsideDestinationError: "is a link to outside /output",
    tarfile.SpecialFileError: "is a special file (a device or a pipe)",
    tarfile.AbsolutePathError: "is an absolute path",
}


def _shown(name: str) -> str:
    """A member's path in /output, as the job wrote it (tar's leading ./ aside)."""
    return name.removeprefix("./") or "."


def mark_returned(folder: JobFolder) -> None:
    (folder.path / RETURNED_FILE).touch()


def has_returned(folder: JobFolder) -> bool:
    return (folder.path / RETURNED_FILE).exists()
