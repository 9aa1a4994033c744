"""Small blobs kept together as rows of one SQLite file beside a local store's blob files
(``small_blobs.sqlite``): one write and one flush for a pack of two thousand, where a file
each would cost two thousand inodes and as many flushes."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator


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
