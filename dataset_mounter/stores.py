"""Blob stores: content-addressed bytes, keyed by sha256. Local directory or S3.

Both keep a blob under ``sha256/ab/cdef…``; a local store keeps the small blobs that come in
packs in one SQLite file beside them instead (``small_blobs.sqlite``), since making a file
costs far more than writing a kilobyte. A blob is durable before ``put_*`` returns, so a
blob that exists is always whole.

The store holds only bytes this process wrote itself and hashed while writing them: a file
handed to ``put_file`` is copied, its copy hashed on the way, unless the caller made it
itself (an upload's spool) and its owner and link count show nobody else can reach it. A
link to a file a container or a user can still change would let them change the blob every
tree that names it shares.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

from floe.core import disk
from floe.core.disk import sync_filesystem, write_all

from .small_blobs import SmallBlobs

# Up to this many blobs at once are flushed one by one; more, with one syncfs.
FSYNC_EACH = 16


def blob_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256[2:]}"


COPY_CHUNK = 1024 * 1024


class BlobChanged(ValueError):
    """A file handed to the store is not (or no longer) the plain file of the bytes named."""


def open_plain(path: str | os.PathLike) -> int:
    """A descriptor of the plain file at ``path`` (``floe.core.disk``); ``BlobChanged`` when
    it is anything else."""
    try:
        return disk.open_plain(path)
    except OSError as err:
        raise BlobChanged(f"{path} cannot be read as a plain file: {err.strerror or err}") from None


def copy_hashed(source: int, target: int, sha256: str) -> int:
    """Copy ``source`` to ``target`` (descriptors), hashing the very bytes written; their
    size. ``BlobChanged`` when they are not the bytes ``sha256`` names."""
    digest, size = hashlib.sha256(), 0
    while chunk := os.read(source, COPY_CHUNK):
        digest.update(chunk)
        write_all(target, chunk)
        size += len(chunk)
    if digest.hexdigest() != sha256:
        raise BlobChanged(f"the file's bytes hash to {digest.hexdigest()}, not {sha256}")
    return size


def is_own(fd: int) -> bool:
    """Whether the open file is this process's alone: its owner, and no other name for it."""
    seen = os.fstat(fd)
    return seen.st_uid == os.getuid() and seen.st_nlink == 1


class BlobStore(LoggingConfigurable):
    """Where blobs live. Subclasses: :class:`LocalStore`, :class:`S3Store`."""

    def put_file(self, sha256: str, path: Path, own: bool = False) -> None:
        """Store the bytes of the file at ``path`` as blob ``sha256``: copied and hashed on
        the way (``BlobChanged`` if they are other bytes), or, with ``own`` (the caller made
        the file and hashed it while writing it) and nobody else able to reach it, linked.
        """
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

    def move_aside(self, sha256: str) -> str:
        """Take a damaged blob out of the store, kept where an admin can look at it (the
        next upload of its bytes stores them anew); where it went ("" if it was not there)."""
        raise NotImplementedError

    def looseness(self, sha256: str) -> str:
        """Why the blob could be changed by someone other than the store ("" if it cannot)."""
        return ""

    def tighten(self, sha256: str) -> None:
        """Make the blob the store's own and read-only again (see ``looseness``)."""


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
        return Path(self._file(sha256))

    def _file(self, sha256: str) -> str:
        # A plain string: a check of 100k blobs spends more in pathlib than in reading them.
        return f"{self.root}/{blob_key(sha256)}"

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

    def put_file(self, sha256: str, path: Path, own: bool = False) -> None:
        names = self._new_blob(sha256)
        if names is None:
            return
        tmp, final = names
        source = open_plain(path)
        try:
            if not (own and is_own(source) and self._link(path, source, tmp)):
                target = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
                try:
                    copy_hashed(source, target, sha256)
                finally:
                    os.close(target)
            os.chmod(tmp, 0o444)  # whatever the umask: containers read it as uid 1000
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())  # durable before it becomes visible
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(source)

    @staticmethod
    def _link(path: Path, source: int, tmp: Path) -> bool:
        """Link the caller's own file (same filesystem: no copy); False where it cannot be,
        or where the name no longer is the file that was opened."""
        try:
            os.link(path, tmp, follow_symlinks=False)
        except OSError:
            return False
        if os.stat(tmp).st_ino != os.fstat(source).st_ino:
            tmp.unlink()
            return False
        return True

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

    def move_aside(self, sha256: str) -> str:
        aside = Path(self.root) / "damaged"
        aside.mkdir(mode=0o700, exist_ok=True)
        dest = aside / f"{sha256}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self._path(sha256), dest)
        except FileNotFoundError:
            data = self.small.get(sha256)
            if data is None:
                return ""
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            self.small.delete([sha256])
        return str(dest)

    def looseness(self, sha256: str) -> str:
        try:
            seen = os.lstat(self._file(sha256))
        except FileNotFoundError:
            return ""  # a small blob, or none: rows of the store's own file
        if not stat.S_ISREG(seen.st_mode):
            return "it is not a plain file"
        if seen.st_uid != os.getuid():
            return f"it is owned by uid {seen.st_uid}, not the store's"
        if seen.st_mode & 0o7222:
            return f"its mode is {stat.S_IMODE(seen.st_mode):o}, not 444"
        return ""

    def tighten(self, sha256: str) -> None:
        path = self._path(sha256)
        os.chown(path, os.getuid(), os.getgid(), follow_symlinks=False)
        os.chmod(path, 0o444, follow_symlinks=False)

    def delete_many(self, shas: list[str]) -> None:
        for sha in shas:
            self._path(sha).unlink(missing_ok=True)
        self.small.delete(shas)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._file(sha256), "rb")
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

    def put_file(self, sha256: str, path: Path, own: bool = False) -> None:
        source = open_plain(path)
        try:
            if own and is_own(source):
                with os.fdopen(os.dup(source), "rb") as data:
                    self._upload(sha256, data)
                return
            with tempfile.TemporaryFile() as copy:  # the bytes sent are the bytes hashed
                copy_hashed(source, copy.fileno(), sha256)
                copy.seek(0)
                self._upload(sha256, copy)
        finally:
            os.close(source)

    def _upload(self, sha256: str, data: BinaryIO) -> None:
        self._client.upload_fileobj(data, self.bucket, self._key(sha256), Config=self._transfer)

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

    def move_aside(self, sha256: str) -> str:
        key = f"{self.prefix}damaged/{sha256}.{uuid.uuid4().hex[:8]}"
        if not self.has(sha256):
            return ""  # missing already: nothing to keep aside
        source = {"Bucket": self.bucket, "Key": self._key(sha256)}
        self._client.copy(source, self.bucket, key, Config=self._transfer)
        self.delete(sha256)
        return f"s3://{self.bucket}/{key}"


# Every blob store Floe ships: the service and a node's plug-in list their settings
# (``--help-all``) from here, so a new store is one class and one entry.
STORES = (LocalStore, S3Store)
