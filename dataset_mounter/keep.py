"""Keeping bytes: which blobs the store holds and who holds them, saving and loading trees.

Dataset versions, jobs' code, jobs' outputs and logs are all kept this way: blobs first (only
those the store lacks), then the tree that names them. A blob's hash is no key to its bytes:
a tree may name a blob only if its maker holds it (sent it, or had it kept from their own
job), so for anyone else "which do you lack?" lists it and they send it; the bytes are
checked against the hash and stored once, so storage is still shared. Admins hold everything.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.core.access import Caller
from floe.core.errors import BadTree, Conflict, NotFound, QuotaExceeded
from floe.core.locks import NamedLocks
from floe.core.sizes import format_size
from floe.db.base import utcnow
from floe.db.models import Blob, BlobHolder, StorageUse, TreeRow
from floe.trees.scan import scan_folder
from floe.trees.tree import MAX_ENTRIES, Entry, Tree, hash_file

from .stores import BlobChanged, BlobStore

CHUNK = 500


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def stored_sizes(db: Session, blob_ids: set[str], caller: Caller | None = None) -> dict[str, int]:
    """The size of each of ``blob_ids`` the store holds (the others are left out); with a
    ``caller`` who is no admin, of those they have shown they hold."""
    return {sha: size for sha, (size, _old) in _stored(db, blob_ids, caller).items()}


def _stored(
    db: Session, blob_ids: set[str], caller: Caller | None, old: datetime | None = None
) -> dict[str, tuple[int, bool]]:
    """``stored_sizes``, each with whether it was stored before ``old``."""
    stored_before = or_(Blob.created.is_(None), Blob.created < old) if old else false()
    query = select(Blob.sha256, Blob.size, stored_before)
    if caller is not None and not caller.admin:
        query = query.join(BlobHolder, BlobHolder.sha256 == Blob.sha256).where(
            BlobHolder.holder == caller.name
        )
    found: dict[str, tuple[int, bool]] = {}
    for chunk in _chunks(blob_ids):
        rows = db.execute(query.where(Blob.sha256.in_(chunk)))
        found.update((sha, (size, bool(before))) for sha, size, before in rows)
    return found


def missing_blobs(db: Session, blob_ids: set[str], caller: Caller | None = None) -> list[str]:
    """Which of ``blob_ids`` the store lacks, or ``caller`` has not shown they hold."""
    known = stored_sizes(db, blob_ids, caller)
    return [i for i in sorted(blob_ids) if i not in known]


class _SharedOrSole:
    """Many keepers at once, or the collector alone: once it waits, new keepers wait for it
    (so a steady stream of uploads never starves it); it works in small steps."""

    def __init__(self) -> None:
        self._idle = threading.Condition()
        self._keepers = 0
        self._sole_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._idle:
            self._idle.wait_for(lambda: self._sole_waiting == 0)
            self._keepers += 1
        try:
            yield
        finally:
            with self._idle:
                self._keepers -= 1
                self._idle.notify_all()

    @contextmanager
    def sole(self) -> Iterator[None]:
        with self._idle:
            self._sole_waiting += 1
            try:
                self._idle.wait_for(lambda: self._keepers == 0)
            finally:
                self._sole_waiting -= 1
            try:
                yield
            finally:
                self._idle.notify_all()


_store_writes = _SharedOrSole()
# Storing a blob (a check that it is missing, its bytes, its row) never interleaves with the
# collector removing one: else bytes just sent could go with the row removed before them.
keeping = _store_writes.shared
collecting = _store_writes.sole

# A blob about to be named is noted as stored now, so the collector (whose age is at least
# an hour) leaves it be; one noted this recently is left as it is (fewer writes).
TOUCH_OLDER_THAN = timedelta(minutes=10)


def touch_blobs(db: Session, blob_ids: Iterable[str], commit: bool = True) -> None:
    """Note ``blob_ids`` as stored now (those a while old), and commit (unless told not to:
    the caller commits with more, and is ``keeping``, so the collector waits for it)."""
    now = utcnow()
    for chunk in _chunks(set(blob_ids)):
        db.execute(
            update(Blob)
            .where(Blob.sha256.in_(chunk), Blob.created < now - TOUCH_OLDER_THAN)
            .values(created=now)
        )
    if commit:
        db.commit()


def require_uploaded(db: Session, tree: Tree, caller: Caller, what: str = "") -> Tree:
    """``tree`` with each size as stored; refused (409 listing them) if it names blobs the
    store lacks or ``caller`` does not hold. Commits (the blobs are noted as fresh, so the
    collector leaves them to the tree about to name them)."""
    now = utcnow()
    found = _stored(db, tree.blob_ids(), caller, now - TOUCH_OLDER_THAN)
    old = {sha for sha, (_size, before) in found.items() if before}
    touched: set[str] = set()
    for chunk in _chunks(old):  # noted as fresh only where the collector has not been first
        fresh = update(Blob).where(Blob.sha256.in_(chunk)).values(created=now)
        fresh = fresh.execution_options(synchronize_session=False)
        touched.update(db.scalars(fresh.returning(Blob.sha256)))
    db.commit()
    sizes = {sha: size for sha, (size, _) in found.items() if sha in touched or sha not in old}
    missing = [i for i in sorted(tree.blob_ids()) if i not in sizes]
    if missing:
        field = {"field": what} if what else {}
        raise Conflict(
            f"{what + ': ' if what else ''}{len(missing)} file(s) have not been uploaded yet; "
            "send them and retry",
            missing=missing,
            **field,
        )
    if all(sizes[e.sha256] == e.size for e in tree.entries):
        return tree
    return Tree.from_entries(
        [Entry(e.path, e.sha256, sizes[e.sha256], e.mode) for e in tree.entries]
    )


def _insert_new(db: Session, model: type, rows: list[dict], returning: tuple = ()) -> list:
    """Insert ``rows`` of ``model`` in few statements; rows whose primary key is there already
    (a writer in parallel added them first) are skipped. Does not commit. With
    ``returning`` (columns), those columns of the rows inserted."""
    if not rows:
        return []
    dialect = db.get_bind().dialect.name
    inserted: list = []
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
        statement = insert(model.__table__).on_conflict_do_nothing()  # Core: no ORM per row
        if returning:
            statement = statement.returning(*returning)
        for start in range(0, len(rows), CHUNK):
            result = db.execute(statement, rows[start : start + CHUNK])
            if returning:
                inserted.extend(result.all())
        return inserted
    for row in rows:  # another database: one row at a time, each its own savepoint
        try:
            with db.begin_nested():
                db.add(model(**row))
            inserted.append(tuple(row[column.key] for column in returning))
        except IntegrityError:
            pass
    return inserted


def add_storage_use(db: Session, change: dict[str, int]) -> None:
    """Add ``change`` (holder -> bytes, negative when they let go) to what each holds. Does
    not commit."""
    for holder, delta in sorted(change.items()):
        if not delta:
            continue
        counted = db.execute(
            update(StorageUse)
            .where(StorageUse.holder == holder)
            .values(bytes=StorageUse.bytes + delta)
            .execution_options(synchronize_session=False)
        )
        if counted.rowcount == 0:
            if not _insert_new(
                db, StorageUse, [{"holder": holder, "bytes": max(delta, 0)}], (StorageUse.holder,)
            ):
                add_storage_use(db, {holder: delta})  # a writer in parallel made it first


def storage_used(db: Session, holder: str) -> int:
    """Bytes of the blobs ``holder`` holds (each counted once), as counted when they came
    and went."""
    return int(db.scalar(select(StorageUse.bytes).where(StorageUse.holder == holder)) or 0)


def count_storage_used(db: Session, holder: str) -> int:
    """What :func:`storage_used` says, summed afresh over the blobs (slow: checks only)."""
    query = (
        select(func.coalesce(func.sum(Blob.size), 0))
        .join(BlobHolder, BlobHolder.sha256 == Blob.sha256)
        .where(BlobHolder.holder == holder)
    )
    return int(db.scalar(query))


# Held only around reads that never flush (``no_autoflush``): a session may hold SQLite's
# write lock (changes flushed, not committed) while it waits here, so whoever holds this lock
# must never need that write lock, or both wait out SQLite's 30 s lock timeout.
_checking_room = NamedLocks()


_reserved: Counter[str] = Counter()  # bytes being kept for each holder, not yet recorded


@contextmanager
def room_for(db: Session, holder: str, blobs: dict[str, int], quota: int) -> Iterator[None]:
    """Within: ``holder`` has room for ``blobs`` (see :func:`require_room`), reserved for
    them until they are recorded, so keepings of theirs in parallel cannot pass the quota
    together; the check is one at a time, the storing is not."""
    with keeping():
        with _checking_room.hold(holder), db.no_autoflush:
            needed = require_room(db, holder, blobs, quota, _reserved[holder])
            _reserved[holder] += needed
        try:
            yield
        finally:
            with _checking_room.hold(holder):
                _reserved[holder] -= needed


def room_left(db: Session, holder: str, quota: int) -> int | None:
    """Bytes ``holder`` may still keep under ``quota``, counting their keepings in progress;
    None without a quota."""
    if not quota:
        return None
    with _checking_room.hold(holder), db.no_autoflush:
        return max(0, quota - storage_used(db, holder) - _reserved[holder])


def require_room(
    db: Session, holder: str, blobs: dict[str, int], quota: int, reserved: int = 0
) -> int:
    """Refuse (413) blobs that would take ``holder`` past ``quota`` bytes (0: no quota),
    counting ``reserved`` bytes on their way; blobs they hold already cost nothing. Returns
    what the blobs cost."""
    if not quota:
        return 0
    new = missing_blobs(db, set(blobs), Caller(holder))
    needed = sum(blobs[sha] for sha in new)
    used = storage_used(db, holder) + reserved
    if needed and used + needed > quota:
        raise QuotaExceeded(
            f"{holder} keeps {format_size(used)}; {format_size(needed)} more would pass the "
            f"storage quota of {format_size(quota)}: ask an admin for more room"
        )
    return needed


def record_blobs(
    db: Session, blobs: dict[str, int], holder: str, new: set[str] | frozenset = frozenset()
) -> None:
    """Note blobs (id -> size) as durable in the store, and held by ``holder``; those
    stored already are noted as fresh (see :func:`touch_blobs`); ``new``, those the caller
    found missing and stored, need not be. Commits.

    Two bulk inserts whatever the number of blobs (a pack's 2,000 cost what a few do)."""
    touch_blobs(db, set(blobs) - new, commit=False)  # one commit for all: one disk flush
    now = utcnow()
    ordered = sorted(blobs)
    _insert_new(db, Blob, [{"sha256": s, "size": blobs[s], "created": now} for s in ordered])
    rows = [{"sha256": s, "holder": holder} for s in ordered]
    newly_held = _insert_new(db, BlobHolder, rows, (BlobHolder.sha256,))
    add_storage_use(db, {holder: sum(blobs[sha] for (sha,) in newly_held)})
    db.commit()


def save_tree(db: Session, tree: Tree) -> str:
    """Store ``tree`` (once per content) and return its digest. Does not commit."""
    digest = tree.digest
    if db.get(TreeRow, digest) is None:
        db.add(
            TreeRow(
                digest=digest, manifest=tree.encode(), size=tree.size, file_count=tree.file_count
            )
        )
    return digest


def load_tree(db: Session, digest: str) -> Tree:
    row = db.get(TreeRow, digest)
    if row is None:
        raise NotFound(f"tree {digest} is gone")
    return Tree.decode(row.manifest)


def keep_folder(
    db: Session,
    store: BlobStore,
    folder: Path,
    holder: str,
    skipped: list[tuple[str, str]] | None = None,
    max_bytes: int | None = None,
    max_files: int = MAX_ENTRIES,
    quota: int = 0,
) -> Tree:
    """Store every file of ``folder`` the store lacks, held by ``holder``; save its tree.

    With ``skipped``, what cannot be kept (also what is past ``max_bytes`` or ``max_files``)
    is left out and noted there (see ``scan``)."""
    tree, sources = scan_folder(folder, skipped=skipped, max_bytes=max_bytes, max_files=max_files)
    sizes = {e.sha256: e.size for e in tree.entries}
    with room_for(db, holder, sizes, quota):
        changed: set[str] = set()
        for sha in missing_blobs(db, tree.blob_ids()):
            try:
                store.put_file(sha, Path(sources[sha]))
            except BlobChanged as err:  # changed since it was hashed: not what the tree says
                changed.add(sha)
                if skipped is None:
                    raise BadTree(f"{sources[sha]}: {err}") from None
        if changed:
            gone = [e for e in tree.entries if e.sha256 in changed]
            skipped.extend((e.path, "it changed while it was being kept") for e in gone)
            tree = Tree.from_entries([e for e in tree.entries if e.sha256 not in changed])
            sizes = {e.sha256: e.size for e in tree.entries}
        record_blobs(db, sizes, holder)
    save_tree(db, tree)
    db.commit()
    return tree


def keep_file(db: Session, store: BlobStore, path: Path, holder: str, quota: int = 0) -> str | None:
    """Store one file as a blob held by ``holder`` (413 past ``quota``); its sha256, None if
    it is not there.

    A job's log is kept this way when the job ends, so it outlives the node's job folder.
    """
    if path.is_symlink() or not path.is_file():
        return None
    sha = hash_file(path)
    size = path.stat().st_size
    with room_for(db, holder, {sha: size}, quota):
        if missing_blobs(db, {sha}):
            store.put_file(sha, path)  # BlobChanged if it changed since: nothing kept
        record_blobs(db, {sha: size}, holder)
    return sha


def keep_bytes(
    db: Session, store: BlobStore, data: bytes, sha256: str, holder: str, quota: int = 0
) -> None:
    """Store bytes already hashed (a notebook sent as JSON), held by ``holder``."""
    with room_for(db, holder, {sha256: len(data)}, quota):
        if missing_blobs(db, {sha256}):
            store.put_many([(sha256, data)])
        record_blobs(db, {sha256: len(data)}, holder)
