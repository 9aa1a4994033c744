"""A job's folder on this node: its log, its result note and its /output until kept.

The folder is the service's: the job (uid 1000) may write the files in it but not add, remove
or swap them, so its log is never a link to a host file. Should a job become root in its
container all the same (a setuid file where no-new-privileges cannot be set), what reads
the folder still opens the log and the result note as plain files only
(``floe.core.disk``) and takes only an /output that is still the folder Floe made
(``kept_output``).
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from containers.spec import CONTAINER_UID, give_to_container_user
from floe.core.disk import open_plain, write_all
from floe.core.text import printable


@dataclass(frozen=True)
class JobFolder:
    path: Path

    @property
    def log(self) -> Path:
        return self.path / "log"

    @property
    def result_note(self) -> Path:
        return self.path / "result.json"

    @property
    def output(self) -> Path:
        return self.path / "output"

    def kept_output(self) -> Path | None:
        """/output as Floe made it, a folder (never a link) of the containers' user or of
        this process; None when the job put something else in its place."""
        try:
            seen = os.lstat(self.output)
        except FileNotFoundError:
            return self.output  # none made here (yet): as empty as it was
        if stat.S_ISDIR(seen.st_mode) and seen.st_uid in (CONTAINER_UID, os.getuid()):
            return self.output
        return None

    def prepare(self) -> None:
        self.path.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self.path, 0o755)
        self.output.mkdir(exist_ok=True)
        for note in (self.log, self.result_note):
            note.touch()
        for path in (self.output, self.log, self.result_note):
            give_to_container_user(path)

    def note(self, lines: list[str]) -> None:
        """Add Floe's own lines to the end of the job's log (before it runs or once it ended)."""
        if lines:
            self.append("".join(f"[floe] {line}\n" for line in lines))

    def open_log(self) -> int | None:
        """A descriptor to add to the log's end, never through a link and never waiting on
        a fifo; None when the job put something other than a plain file in its place (then
        nothing is added: a job's own doing)."""
        try:
            return open_plain(self.log, os.O_WRONLY | os.O_APPEND)
        except OSError:
            return None

    def append(self, text: str) -> None:
        """Add ``text`` to the end of the log as it is (a build's output)."""
        self.append_bytes(text.encode("utf-8", "replace"))

    def append_bytes(self, data: bytes) -> None:
        """Add bytes to the end of the log (the job's own, sent by the node it ran on)."""
        fd = self.open_log()
        if fd is None:
            return
        try:
            write_all(fd, data)
        finally:
            os.close(fd)

    def drop_output(self) -> None:
        """Once /output is kept as a tree, its files here are no longer needed."""
        shutil.rmtree(self.output, ignore_errors=True)


OUTPUT_REPLACED = "/output was not kept: the job replaced its folder with something else"


def skipped_lines(skipped: list[tuple[str, str]], most: int = 100) -> list[str]:
    """What of /output was not kept, for the log: one line a file, the first ``most``."""
    if not skipped:
        return []
    lines = [
        f"not kept from /output: {printable(path)} ({printable(why)})"
        for path, why in skipped[:most]
    ]
    if len(skipped) > most:
        lines.append(f"… and {len(skipped) - most} more not kept from /output")
    return lines
