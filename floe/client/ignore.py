"""Which files of a folder a code snapshot leaves out: ``.floeignore`` plus sensible defaults.

``.floeignore`` takes one pattern per line, like a simple ``.gitignore``: ``#`` comments,
``name`` (a file or folder anywhere), ``dir/`` (a folder anywhere), ``path/with/*.glob``
(relative to the folder). No negation.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

IGNORE_FILE = ".floeignore"
# Hidden folders (.git, .cache, .local, .ipynb_checkpoints…) are tools' state, not code.
ALWAYS_IGNORED = (".*/", "__pycache__/", ".floe", ".floedata")


@dataclass(frozen=True)
class IgnoreRules:
    patterns: tuple[str, ...]

    @classmethod
    def for_folder(cls, folder: Path) -> IgnoreRules:
        lines: list[str] = []
        ignore_file = folder / IGNORE_FILE
        if ignore_file.is_file():
            lines = ignore_file.read_text(errors="replace").splitlines()
        patterns = [p.strip() for p in lines if p.strip() and not p.lstrip().startswith("#")]
        return cls(tuple(ALWAYS_IGNORED) + tuple(patterns))

    def ignored(self, rel: str) -> bool:
        """Whether the file at ``rel`` (a relative POSIX path) is left out."""
        parts = rel.split("/")
        for pattern in self.patterns:
            folder_only = pattern.endswith("/")
            pattern = pattern.strip("/")
            if "/" in pattern:  # anchored at the folder
                if fnmatch(rel, pattern) or any(
                    fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts))
                ):
                    return True
                continue
            names = parts[:-1] if folder_only else parts
            if any(fnmatch(name, pattern) for name in names):
                return True
        return False

    def included(self, rel: str) -> bool:
        return not self.ignored(rel)
