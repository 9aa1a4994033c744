"""Trees: the immutable, flat manifest of a versioned file tree (path -> sha256, size, mode).

A dataset version, a job's code snapshot and a job's output are each one tree over the
content-addressed blob store. A tree is never a chain of diffs: reading one needs nothing else.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import posixpath
import re
import zlib
from dataclasses import dataclass
from functools import cached_property

from floe.core.errors import BadTree
from floe.core.refs import MAX_SIZE

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A plain path, as nearly every one is: segments of anything but '/', NUL and backslash,
# none of them '.' or '..'. Short and ASCII, so no byte limit can be passed either.
_PLAIN_PATH = re.compile(r"(?!\.\.?(?:/|$))[^/\x00\\]+(?:/(?!\.\.?(?:/|$))[^/\x00\\]+)*")
CHUNK = 1024 * 1024
# What a tree may hold: bounded, so no manifest asks for unbounded work or disk.
MAX_ENTRIES = 1_000_000
MAX_PATH_BYTES = 4096  # PATH_MAX
MAX_NAME_BYTES = 255  # NAME_MAX, one part of a path
MAX_DEPTH = 128  # folders inside folders
# A path as documents state it (the OpenAPI one): what check_path takes, a name's and a path's
# byte limits read as characters of up to 4 bytes (a name of 63, a path of PATH_MAX_CHARS),
# written without lookahead so every JSON Schema generator and validator reads it alike.
_SEGMENT = r"(?:[^/\x00\\.][^/\x00\\]{0,62}|\.[^/\x00\\.][^/\x00\\]{0,61}|\.\.[^/\x00\\]{1,61})"
PATH_PATTERN = rf"{_SEGMENT}(?:/{_SEGMENT}){{0,{MAX_DEPTH - 1}}}"
PATH_MAX_CHARS = MAX_PATH_BYTES // 4


def hash_file(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes: its blob id."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:  # reads go straight to the hash, no copy
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One file of a tree."""

    path: str
    sha256: str
    size: int
    mode: int = 0o644

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)


def check_path(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path inside the tree, else raise."""
    if type(path) is str and len(path) <= MAX_NAME_BYTES and path.isascii():
        if _PLAIN_PATH.fullmatch(path):  # a million paths of a manifest: microseconds each
            return path
    if not isinstance(path, str) or not path:
        raise BadTree("a file path is empty")
    if "\x00" in path or "\\" in path:
        raise BadTree(f"{path!r}: paths may not contain NUL or backslashes")
    if path.startswith("/"):
        raise BadTree(f"{path!r}: paths must be relative to the uploaded folder")
    parts = path.split("/")
    if ".." in parts:
        raise BadTree(f"{path!r}: '..' would point outside the uploaded folder")
    if posixpath.normpath(path) != path or "." in parts:
        raise BadTree(f"{path!r}: write it as {posixpath.normpath(path)!r}")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES or len(parts) > MAX_DEPTH:
        raise BadTree(
            f"{path[:60]!r}…: a path may be at most {MAX_PATH_BYTES} bytes and {MAX_DEPTH} "
            "folders deep"
        )
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in parts):
        raise BadTree(f"{path[:60]!r}…: a file or folder name may be at most 255 bytes")
    return path


def check_sha256(value: str) -> str:
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise BadTree(f"{value!r} is not a lowercase hex sha256")
    return value


@dataclass(frozen=True)
class Tree:
    """A sorted, validated set of entries."""

    entries: tuple[Entry, ...]

    @classmethod
    def from_entries(cls, entries: list[Entry]) -> Tree:
        if len(entries) > MAX_ENTRIES:
            raise BadTree(f"a tree may hold at most {MAX_ENTRIES} files, not {len(entries)}")
        seen: set[str] = set()
        for entry in entries:
            check_path(entry.path)
            check_sha256(entry.sha256)
            if not 0 <= entry.size <= MAX_SIZE:
                raise BadTree(f"{entry.path!r}: size {entry.size} is not a byte count")
            if entry.path in seen:
                raise BadTree(f"{entry.path!r} appears twice")
            seen.add(entry.path)
        folders: set[str] = set()
        for path in seen:
            folder = posixpath.dirname(path)
            while folder and folder not in folders:  # each folder walked up from once
                if folder in seen:
                    raise BadTree(f"{folder!r} is both a file and a folder")
                folders.add(folder)
                folder = posixpath.dirname(folder)
        return cls(tuple(sorted(entries, key=lambda e: e.path)))

    @classmethod
    def from_manifest(cls, manifest: object) -> Tree:
        """Parse the JSON shape clients send: ``[{"path", "sha256", "size", "mode"}, …]``."""
        if not isinstance(manifest, list):
            raise BadTree("the manifest must be a list of files")
        entries = []
        for item in manifest:
            if not isinstance(item, dict):
                raise BadTree("each manifest entry must be an object")
            try:
                entries.append(
                    Entry(
                        path=item["path"],
                        sha256=item["sha256"],
                        size=int(item["size"]),
                        mode=int(item.get("mode", 0o644)) & 0o777,
                    )
                )
            except (KeyError, TypeError, ValueError) as err:
                raise BadTree(f"manifest entry {item!r} lacks path, sha256 or size") from err
        return cls.from_entries(entries)

    def to_manifest(self) -> list[dict]:
        return [
            {"path": e.path, "sha256": e.sha256, "size": e.size, "mode": e.mode}
            for e in self.entries
        ]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def file_count(self) -> int:
        return len(self.entries)

    def blob_ids(self) -> set[str]:
        return {e.sha256 for e in self.entries}

    @cached_property
    def _canonical(self) -> bytes:
        rows = [[e.path, e.sha256, e.size, e.mode] for e in self.entries]
        return json.dumps(rows, separators=(",", ":")).encode()

    def encode(self) -> bytes:
        """Compact, canonical bytes of the manifest (what the database keeps)."""
        return zlib.compress(self._canonical, 1)  # a manifest's paths repeat: 1 does well

    @classmethod
    def decode(cls, data: bytes) -> Tree:
        rows = json.loads(zlib.decompress(data))
        return cls(tuple(Entry(p, s, n, m) for p, s, n, m in rows))

    @cached_property
    def digest(self) -> str:
        """Content id of the tree: equal trees have equal digests."""
        return hashlib.sha256(self._canonical).hexdigest()

    def find(self, path: str) -> Entry | None:
        i = bisect.bisect_left(self.entries, path, key=lambda e: e.path)
        if i < len(self.entries) and self.entries[i].path == path:
            return self.entries[i]
        return None
