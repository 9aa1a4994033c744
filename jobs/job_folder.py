"""A job's folder on this node: its log, its result note and its /output until kept.

The folder is the service's: the job (uid 1000) may write the files in it but not add, remove
or swap them, so its log is never a link to a host file.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from floe.core.text import printable
from spawner.container_spec import give_to_container_user


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

    def append(self, text: str) -> None:
        """Add ``text`` to the end of the log as it is (a build's output)."""
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        with os.fdopen(fd, "a", encoding="utf-8", errors="replace") as log:
            log.write(text)

    def append_bytes(self, data: bytes) -> None:
        """Add the job's own bytes to the log (sent by the node it ran on)."""
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def drop_output(self) -> None:
        """Once /output is kept as a tree, its files here are no longer needed."""
        shutil.rmtree(self.output, ignore_errors=True)


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
