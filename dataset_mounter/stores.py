"""Blob stores: content-addressed bytes, keyed by sha256. Local directory or S3.

Both keep a blob under ``sha256/ab/cdef…``; a local store keeps the small blobs that come in
packs in one SQLite file beside them instead (``small_blobs.sqlite``), since making a file
costs far more than writing a kilobyte. A blob is durable before ``put_*`` returns, so a
blob that exists is always whole.
"""

from __future__ import annotations

import ctypes
import io
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

# Up to this many blobs at once are flushed one by one; more, with one syncfs.
FSYNC_EACH = 16


def sync_filesystem(path: Path) -> None:
    """Flush the filesystem holding ``path`` (Linux ``syncfs``); ``sync`` where there is none."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``data`` written to ``fd`` whole (``os.write`` may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def blob_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256[2:]}"


class BlobStore(LoggingConfigurable):
    """Where blobs live. Subclasses: :class:`LocalStore`, :class:`S3Store`."""

    def put_file(self, sha256: str, path: Path) -> None:
        """Store the file at ``path`` (already hashed by the caller) as blob ``sha256``."""
        raise NotImplementedError

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Store several small blobs given as bytes (already hashed by the caller)."""
        raise NotImplementedError

    def fetch_to(self, sha256: str, dest: Path) -> None:
        """Write blob ``sha256`` to ``dest``."""
        raise NotImplementedError

    def open(self, sha256: str) -> BinaryIO:
        raise NotImplementedError

    def local_path(self, sha256: str) -> Path | None:
        """A path on this node holding the blob, when the store is a local directory."""
        return None

    def read_small(self, shas: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """``(sha256, bytes)`` of those of ``shas`` the store keeps together as small blobs
        (in any order; the others are left out). A store keeping each blob alone has none."""
        return iter(())

    def delete(self, sha256: str) -> None:
        """Remove the blob (gone already is fine)."""
        raise NotImplementedError

    def delete_many(self, shas: list[str]) -> None:
        """Remove these blobs (gone already is fine)."""
        for sha in shas:
            self.delete(sha)

    def has(self, sha256: str) -> bool:
        """Whether the store holds the blob (what the database says aside)."""
        raise NotImplementedError


class SmallBlobs:
    """Small blobs as rows of one SQLite file: one write and one flush for a pack of two
    thousand, where files would cost two thousand inodes. Readers in other processes (the
    hub, the runner) see them as soon as they are stored (WAL)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()  # a connection per thread (and per process)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a blob stored is on the disk
            db.execute(
                "CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL)"
            )
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def put(self, items: list[tuple[str, bytes]]) -> None:
        db = self._db()
        with _transaction(db):
            db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?)", items)

    def get(self, sha256: str) -> bytes | None:
        if not self.exists():
            return None
        row = self._db().execute("SELECT data FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return row[0] if row else None

    def get_many(self, shas: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        if not self.exists():
            return
        wanted = sorted(set(shas))
        db = self._db()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            yield from db.execute(
                f"SELECT sha256, data FROM blobs WHERE sha256 IN ({marks})",  # noqa: S608
                chunk,
            )

    def delete(self, shas: list[str]) -> None:
        """Remove these blobs, in one transaction (one flush)."""
        if shas and self.exists():
            db = self._db()
            with _transaction(db):
                db.executemany("DELETE FROM blobs WHERE sha256 = ?", [(sha,) for sha in shas])


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_rest: object) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            if self.db.in_transaction:  # a failed COMMIT: the write lock is not kept
                self.db.execute("ROLLBACK")


class LocalStore(BlobStore):
    """Blobs as read-only files under a directory of this node (the default); small ones sent
    in packs as rows of one SQLite file there."""

    root = Unicode("", config=True, help="Directory holding the blobs; default: <data dir>/blobs.")
    small_blob_bytes = Integer(
        64 * 1024,
        config=True,
        help="Blobs sent in packs up to this size are kept together in the store's "
        "small_blobs.sqlite rather than as a file each (making a file costs more than "
        "writing a few KiB); a workspace or job reading them gets them laid out as files in "
        "the node cache. 0: every blob a file.",
    )

    @property
    def small(self) -> SmallBlobs:
        small = self.__dict__.get("_small")
        if small is None:
            os.makedirs(self.root, exist_ok=True)
            small = self.__dict__["_small"] = SmallBlobs(f"{self.root}/small_blobs.sqlite")
        return small

    def _path(self, sha256: str) -> Path:
        return Path(self.root) / blob_key(sha256)

    def _shard(self, final: str) -> None:
        """Make the blob's shard folder once per process, not one mkdir per blob."""
        made = self.__dict__.setdefault("_made_shards", set())
        shard = os.path.dirname(final)
        if shard not in made:
            os.makedirs(shard, exist_ok=True)
            made.add(shard)

    def local_path(self, sha256: str) -> Path | None:
        path = self._path(sha256)
        return path if path.exists() else None

    def _new_blob(self, sha256: str) -> tuple[Path, Path] | None:
        """A temporary name beside the blob's final one; None if the blob is there already."""
        final = self._path(sha256)
        if final.exists():
            return None
        self._shard(str(final))
        return final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp"), final

    def _stage(self, sha256: str, path: Path) -> tuple[Path, Path] | None:
        """Put the file's bytes beside their final name, owned by this process and read-only;
        None if the blob is there already."""
        names = self._new_blob(sha256)
        if names is None:
            return None
        tmp, final = names
        try:
            os.link(path, tmp)  # same filesystem: no copy
            # A job's output is its user's (uid 1000): the blob every tree shares must not be.
            os.chown(tmp, os.getuid(), os.getgid())
        except OSError:
            tmp.unlink(missing_ok=True)
            shutil.copyfile(path, tmp)
        os.chmod(tmp, 0o444)
        return tmp, final

    def put_file(self, sha256: str, path: Path) -> None:
        staged = self._stage(sha256, path)
        if staged:
            with open(staged[0], "rb") as f:
                os.fsync(f.fileno())  # durable before it becomes visible
            os.replace(*staged)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Small blobs go to the store's SQLite file together (one flush). The others are
        files: a few flushed to disk one by one; many with one flush of the store's
        filesystem, which costs less than a flush per file and never the host's."""
        unique = dict(items)  # a blob twice in one pack is written once
        if self.small_blob_bytes:
            limit = self.small_blob_bytes
            small = [(sha, data) for sha, data in unique.items() if len(data) <= limit]
            if small:
                self.small.put(small)
                unique = {sha: data for sha, data in unique.items() if len(data) > limit}
        self._put_files(unique)

    def _put_files(self, unique: dict[str, bytes]) -> None:
        staged = []
        each = len(unique) <= FSYNC_EACH
        suffix = f".{uuid.uuid4().hex}.tmp"  # one per call: each name is still unique
        for sha256, data in unique.items():
            # Plain strings and os calls: a pack is thousands of blobs, pathlib costs µs each.
            final = f"{self.root}/{blob_key(sha256)}"
            if os.path.exists(final):
                continue
            self._shard(final)
            shard, name = os.path.split(final)
            tmp = f"{shard}/.{name}{suffix}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
                staged.append((tmp, final))
                try:
                    os.fchmod(fd, 0o444)  # whatever the umask: containers read it as uid 1000
                    write_all(fd, data)
                    if each:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            except BaseException:
                for written, _final in staged:  # a disk full midway leaves no temporary files
                    os.unlink(written)
                raise
        if staged and not each:
            sync_filesystem(Path(self.root))
        for tmp, final in staged:
            os.replace(tmp, final)

    def read_small(self, shas: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        return self.small.get_many(shas)  # also those kept before small_blob_bytes changed

    def has(self, sha256: str) -> bool:
        return self._path(sha256).exists() or self.small.get(sha256) is not None

    def fetch_to(self, sha256: str, dest: Path) -> None:
        with self.open(sha256) as source, open(dest, "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)

    def delete(self, sha256: str) -> None:
        self.delete_many([sha256])

    def delete_many(self, shas: list[str]) -> None:
        for sha in shas:
            self._path(sha).unlink(missing_ok=True)
        self.small.delete(shas)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path(sha256), "rb")
        except FileNotFoundError:
            data = self.small.get(sha256)
            if data is None:
                raise
            return io.BytesIO(data)


class S3Store(BlobStore):
    """Blobs as objects in an S3 bucket (AWS, MinIO, Ceph, anything S3-speaking)."""

    bucket = Unicode("", config=True, help="Bucket name, e.g. 'floe-blobs'.")
    prefix = Unicode("floe/", config=True, help="Key prefix inside the bucket.")
    endpoint_url = Unicode(
        "", config=True, help="S3 endpoint for non-AWS servers, e.g. 'http://127.0.0.1:9000'."
    )
    region = Unicode("us-east-1", config=True, help="Region name passed to boto3.")
    multipart_threshold = Integer(
        64 * 1024 * 1024, config=True, help="Blobs at least this large are sent in parts."
    )
    multipart_chunksize = Integer(16 * 1024 * 1024, config=True, help="Size of each part.")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        import boto3
        from boto3.s3.transfer import TransferConfig

        self._client = boto3.client(
            "s3", endpoint_url=self.endpoint_url or None, region_name=self.region
        )
        self._transfer = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
        )

    def _key(self, sha256: str) -> str:
        return self.prefix + blob_key(sha256)

    def put_file(self, sha256: str, path: Path) -> None:
        self._client.upload_file(str(path), self.bucket, self._key(sha256), Config=self._transfer)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        for sha256, data in items:
            self._client.put_object(Bucket=self.bucket, Key=self._key(sha256), Body=data)

    def fetch_to(self, sha256: str, dest: Path) -> None:
        self._client.download_file(self.bucket, self._key(sha256), str(dest), Config=self._transfer)

    def delete(self, sha256: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key(sha256))

    def has(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def open(self, sha256: str) -> BinaryIO:
        return self._client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"]
