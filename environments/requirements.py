"""What a ``floe_requirements.txt`` asks for, normalised, so that one set of needs is one key.

Two files that ask for the same packages (whatever their comments, blank lines, spacing or
order) are the same requirements and build one image. Local files a line names (a wheel or an
sdist in the job's code) are part of the key by their content: the same wheel is the same
image, a rebuilt one a new image. What pip would read from elsewhere on the machine (``-r``,
``-c``, ``-e`` of a folder, a path outside the code) is refused with the line it is on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from floe.core.errors import FloeUserError
from floe.core.sizes import format_size
from floe.core.text import without_secrets

FILE_NAME = "floe_requirements.txt"
MAX_FILE_BYTES = 64 * 1024
MAX_LINES = 1000
MAX_LOCAL_BYTES = 512 * 1024**2
# Options pip accepts in a requirements file that change nothing but where packages come from.
ALLOWED_OPTIONS = (
    "--index-url",
    "-i",
    "--extra-index-url",
    "--pre",
    "--prefer-binary",
    "--only-binary",
    "--no-binary",
    "--trusted-host",
)
_LOCAL_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class BadRequirements(FloeUserError):
    status = 400


@dataclass(frozen=True)
class Requirements:
    """Normalised requirement lines; local files as (name in the build, bytes)."""

    lines: tuple[str, ...]
    local_files: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    @property
    def text(self) -> str:
        """The requirements file the build installs (local files under ``local/``)."""
        return "".join(line + "\n" for line in self.lines)

    def digest(self) -> str:
        """The content hash of what these requirements install."""
        h = hashlib.sha256(self.text.encode())
        for name, data in self.local_files:
            h.update(f"\0{name}\0".encode())
            h.update(hashlib.sha256(data).digest())
        return h.hexdigest()


def _strip_comment(line: str) -> str:
    # pip: a comment starts at "#" at the line's start or after whitespace.
    return re.sub(r"(^|\s)#.*$", "", line).strip()


def _is_local(line: str) -> bool:
    spec = line.split(";", 1)[0].strip()  # a marker ("; python_version > '3'") aside
    if _URL.match(spec) or "@" in spec or " " in spec:  # "name @ https://…" is not local
        return False
    return spec.startswith(("./", "../", "/")) or spec.lower().endswith(_LOCAL_SUFFIXES)


def parse_requirements(
    text: str, code_dir: Path | None = None, source: str = FILE_NAME
) -> Requirements:
    """Normalise ``text`` (a ``floe_requirements.txt``); local files are read from ``code_dir``
    (none: refused). ``source`` is what errors call the text."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise BadRequirements(f"{source} is over {format_size(MAX_FILE_BYTES)}")
    # Continuation lines join first, as pip joins them.
    raw = re.sub(r"\\\r?\n", " ", text).splitlines()
    if len(raw) > MAX_LINES:
        raise BadRequirements(f"{source} has over {MAX_LINES} lines")
    options: list[str] = []
    wanted: set[str] = set()
    local: dict[str, bytes] = {}
    total = 0
    for number, original in enumerate(raw, start=1):
        line = " ".join(_strip_comment(original).split())
        if not line:
            continue
        # Errors become a job's or an environment's reason, which others may read.
        where = f"{source} line {number} ({without_secrets(line)[:80]!r})"
        if line.startswith("-"):
            # Every option on the line, not just the first ("--pre -r /etc/passwd").
            options_here = [t.split("=", 1)[0] for t in line.split() if t.startswith("-")]
            option = next((o for o in options_here if o not in ALLOWED_OPTIONS), None)
            if option is not None:
                raise BadRequirements(
                    f"{where}: {option} is not supported in {source}; list the packages "
                    "themselves (a wheel in a job's code folder works too)"
                )
            options.append(line)
            continue
        if _is_local(line):
            if code_dir is None:
                raise BadRequirements(
                    f"{where}: a local file can only be installed from a job's code (its "
                    f"{FILE_NAME}); here, name packages from the index or by URL"
                )
            name, data = _read_local(code_dir, line, where)
            total += len(data)
            if total > MAX_LOCAL_BYTES:
                raise BadRequirements(
                    f"{where}: local files over {format_size(MAX_LOCAL_BYTES)} in all"
                )
            local[name] = data
            wanted.add(f"./local/{name}")
            continue
        wanted.add(line)
    if not wanted:
        return Requirements(lines=())
    # Options keep their order (an index before an extra index); packages are a set.
    return Requirements(lines=(*options, *sorted(wanted)), local_files=tuple(sorted(local.items())))


def _read_local(code_dir: Path, line: str, where: str) -> tuple[str, bytes]:
    root = code_dir.resolve()
    path = (code_dir / line.lstrip("/") if line.startswith("/") else code_dir / line).resolve()
    if line.startswith("/") or not path.is_relative_to(root):
        raise BadRequirements(f"{where}: a local file must be in the job's code folder")
    if path.is_dir():
        raise BadRequirements(f"{where}: a folder cannot be installed here; build a wheel of it")
    if not path.is_file():
        raise BadRequirements(f"{where}: no such file in the job's code")
    data = path.read_bytes()
    # The name pip sees must stay the file's own (a wheel's name says what it is).
    return f"{hashlib.sha256(data).hexdigest()[:12]}/{path.name}", data


def read_requirements(code_dir: Path) -> Requirements | None:
    """The requirements of a job's code, or None when it has no ``floe_requirements.txt``."""
    path = code_dir / FILE_NAME
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadRequirements(f"{FILE_NAME} is over {format_size(MAX_FILE_BYTES)}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadRequirements(f"{FILE_NAME} is not UTF-8 text") from None
    reqs = parse_requirements(text, code_dir)
    return reqs if reqs.lines else None
