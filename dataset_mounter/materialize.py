"""Materialize a tree: a read-only directory of hard links in the node cache.

Every container that mounts the same tree gets the same directory, so a version is laid out
once per node. Every file is a hard link to one read-only copy of its blob on this node: the
store's own file, or one copy in the node cache where the store is elsewhere (S3, another
filesystem), and one executable copy for blobs some tree marks executable (a link shares its
mode). A manifest naming one blob a thousand times costs a thousand links, not a thousand
copies.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from pathlib import Path

from floe.trees.tree import Tree, hash_file

from .stores import BlobStore, LocalStore, blob_key


def _blob_source(store: BlobStore, cache: LocalStore, sha256: str, spool: Path) -> Path:
    """A local file holding the blob: the store's own, or one fetched into the node cache."""
    path = store.local_path(sha256) or cache.local_path(sha256)
    if path is not None:
        return path
    spool.mkdir(parents=True, exist_ok=True)
    tmp = spool / f"{sha256}.{uuid.uuid4().hex}"
    try:
        store.fetch_to(sha256, tmp)
        if hash_file(tmp) != sha256:
            raise OSError(f"blob {sha256} fetched from the store is corrupt")
        cache.put_file(sha256, tmp)
    finally:
        tmp.unlink(missing_ok=True)
    return cache.local_path(sha256)


def node_cache(cache_dir: Path) -> LocalStore:
    """The node's copies of blobs: every one a file, for links to share."""
    return LocalStore(root=str(Path(cache_dir) / "blobs"), small_blob_bytes=0)


def _lay_out_small(store: BlobStore, cache_dir: Path, tree: Tree) -> None:
    """The tree's blobs the store keeps together as small ones, as files in the node cache,
    many at a time (one flush), each checked against its hash."""
    cache = node_cache(cache_dir)
    # Looked at only by a store that keeps small blobs together (no stat a blob otherwise).
    wanted = (
        sha
        for sha in tree.blob_ids()
        if cache.local_path(sha) is None and store.local_path(sha) is None
    )
    batch: list[tuple[str, bytes]] = []
    batch_bytes = 0
    for sha, data in store.read_small(wanted):
        if hashlib.sha256(data).hexdigest() != sha:
            raise OSError(f"blob {sha} in the store is corrupt")
        batch.append((sha, data))
        batch_bytes += len(data)
        if len(batch) >= 2000 or batch_bytes >= 16 * 1024 * 1024:
            cache.put_many(batch)
            batch, batch_bytes = [], 0
    cache.put_many(batch)


def _linkable(
    store: BlobStore, cache_dir: Path, sha256: str, executable: bool, building: Path
) -> Path:
    """The one read-only file on this node that every tree's entry for this blob (and mode)
    is a hard link to."""
    cache = node_cache(cache_dir)
    spool = Path(cache_dir) / "spool"
    source = _blob_source(store, cache, sha256, spool)
    if not _same_filesystem(source, building):
        cache.put_file(sha256, source)  # one copy here, then links
        source = cache.local_path(sha256)
    if not executable:
        return source
    runnable = Path(cache_dir) / "blobs-exec" / blob_key(sha256)
    if not runnable.exists():
        runnable.parent.mkdir(parents=True, exist_ok=True)
        tmp = runnable.with_name(f".{runnable.name}.{uuid.uuid4().hex}")
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o555)
        os.replace(tmp, runnable)
    return runnable


def _copy_of(path: Path, folder: Path) -> Path:
    """Another read-only copy of ``path``, with the same mode, for more links."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"links-{uuid.uuid4().hex}"
    shutil.copyfile(path, copy)
    os.chmod(copy, os.stat(path).st_mode & 0o777)
    return copy


def _same_filesystem(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def make_writable(path: Path) -> None:
    """Folders under ``path`` (and it) writable again, so they can be removed."""
    for root, dirs, _files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    os.chmod(path, 0o755)


def tree_dir(cache_dir: Path, digest: str) -> Path:
    """Where the tree with this digest is (or will be) laid out on this node."""
    return Path(cache_dir) / "trees" / digest


def forget_tree(cache_dir: Path, digest: str) -> None:
    """Put the tree laid out here out of use: the next container gets it laid out anew,
    while one running keeps what it mounted (moved beside the trees, a hidden folder that the
    node's volume plugin removes at its next start)."""
    folder = tree_dir(cache_dir, digest)
    try:
        os.rename(folder, folder.parent / f".forgotten-{digest}-{uuid.uuid4().hex}")
    except FileNotFoundError:
        pass


def forget_blob(cache_dir: Path, sha256: str) -> None:
    """Remove this node's copies of a blob (plain and runnable), laid out again from the
    store when next needed."""
    for kind in ("blobs", "blobs-exec"):
        (Path(cache_dir) / kind / blob_key(sha256)).unlink(missing_ok=True)


def materialize(tree: Tree, store: BlobStore, cache_dir: Path) -> Path:
    """Return a read-only directory laid out as ``tree``, building it the first time."""
    final = tree_dir(cache_dir, tree.digest)
    trees = final.parent
    if final.is_dir():
        return final
    trees.mkdir(parents=True, exist_ok=True)
    _lay_out_small(store, cache_dir, tree)
    building = trees / f".{tree.digest}.{uuid.uuid4().hex}"
    building.mkdir()
    made_dirs = {building}
    sources: dict[tuple[str, bool], Path] = {}
    try:
        for entry in tree.entries:
            dest = building / entry.path
            if dest.parent not in made_dirs:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made_dirs.update([dest.parent, *dest.parent.parents])
            key = (entry.sha256, entry.executable)
            if key not in sources:
                sources[key] = _linkable(store, cache_dir, *key, building)
            try:
                os.link(sources[key], dest)
            except OSError as err:
                if err.errno != errno.EMLINK:
                    raise
                # A file holds 65,000 links at most (ext4): the next ones share a new copy.
                sources[key] = _copy_of(sources[key], Path(cache_dir) / "blobs-extra")
                os.link(sources[key], dest)
        for d in sorted(made_dirs, key=lambda p: len(p.parts), reverse=True):
            os.chmod(d, 0o555)
        try:
            os.rename(building, final)
        except OSError:
            if not final.is_dir():  # not a lost race with another builder of the same tree
                raise
            make_writable(building)
            shutil.rmtree(building)
    except BaseException:
        if building.exists():
            make_writable(building)
            shutil.rmtree(building, ignore_errors=True)
        raise
    return final
