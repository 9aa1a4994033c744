"""Materialize a tree: a read-only directory of hard links in the node cache.

Every container that mounts the same tree gets the same directory, so a version is laid out
once per node. Hard links cost no space and no copying; a file is copied only where a link
cannot work (another filesystem, or an executable file, whose mode a link would change on
the shared blob), and that is logged.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

from .stores import BlobStore, LocalStore
from .tree import Tree, hash_file

log = logging.getLogger("floe.materialize")


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


def _make_writable(path: Path) -> None:
    for root, dirs, _files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    os.chmod(path, 0o755)


def tree_dir(cache_dir: Path, digest: str) -> Path:
    """Where the tree with this digest is (or will be) laid out on this node."""
    return Path(cache_dir) / "trees" / digest


def materialize(tree: Tree, store: BlobStore, cache_dir: Path) -> Path:
    """Return a read-only directory laid out as ``tree``, building it the first time."""
    final = tree_dir(cache_dir, tree.digest)
    trees = final.parent
    if final.is_dir():
        return final
    trees.mkdir(parents=True, exist_ok=True)
    blob_cache = LocalStore(root=str(Path(cache_dir) / "blobs"))
    spool = Path(cache_dir) / "spool"
    building = trees / f".{tree.digest}.{uuid.uuid4().hex}"
    building.mkdir()
    made_dirs = {building}
    copied = 0
    try:
        for entry in tree.entries:
            dest = building / entry.path
            if dest.parent not in made_dirs:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made_dirs.update([dest.parent, *dest.parent.parents])
            src = _blob_source(store, blob_cache, entry.sha256, spool)
            if entry.executable:
                shutil.copyfile(src, dest)
                os.chmod(dest, 0o555)
                copied += 1
                continue
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)
                os.chmod(dest, 0o444)
                copied += 1
        for d in sorted(made_dirs, key=lambda p: len(p.parts), reverse=True):
            os.chmod(d, 0o555)
        try:
            os.rename(building, final)
        except OSError:
            if not final.is_dir():  # not a lost race with another builder of the same tree
                raise
            _make_writable(building)
            shutil.rmtree(building)
    except BaseException:
        if building.exists():
            _make_writable(building)
            shutil.rmtree(building, ignore_errors=True)
        raise
    if copied:
        log.info(
            "materialized %s: %d of %d files copied, not linked", final, copied, len(tree.entries)
        )
    return final
