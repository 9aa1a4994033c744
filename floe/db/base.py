"""What every table of Floe's database shares: the declarative base, times, engines, numbering."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import QueuePool, StaticPool

from floe.core.errors import Conflict
from floe.core.times import utc


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were stored as UTC (``floe.core.times``)."""
    return utc(value)


class Base(DeclarativeBase):
    pass


Row = TypeVar("Row", bound=Base)


def add_numbered(
    db: Session,
    counter: Any,
    scope: Any,
    last: Any,
    keeper: Callable[[], Base],
    make: Callable[[int], Row],
    busy: str,
) -> Row:
    """Add ``make(n)`` and flush it, n a number ``scope`` never gave: one past the highest
    ``counter`` of its rows and past ``last``, the highest it ever gave, kept on the row
    ``keeper()`` finds (or makes) and raised to n. So deleting the newest row frees nothing.

    ``counter`` is unique within ``scope`` (a constraint of the table): when a concurrent
    writer takes n first, the flush fails, the transaction is rolled back and ``make`` is
    asked again with the next n. After 20 lost races: ``Conflict(busy)``. The caller commits.
    """
    for _attempt in range(20):
        holder = keeper()
        if inspect(holder).persistent:  # as of now, and (PostgreSQL) held until the commit;
            # rows that merely refer to it (a job's project) may still be added meanwhile.
            db.refresh(holder, [last.key], with_for_update={"key_share": True})
        else:
            db.add(holder)
        taken = db.scalar(select(func.max(counter)).where(scope)) or 0
        number = max(taken, getattr(holder, last.key) or 0) + 1
        setattr(holder, last.key, number)
        row = make(number)
        db.add(row)
        try:
            db.flush()
            return row
        except IntegrityError:
            db.rollback()  # another writer took this number: take the next one
    raise Conflict(busy)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a generous lock timeout
    (``sqlite://`` alone is one in-memory database shared by every session, for tests)."""
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        memory = url in ("sqlite://", "sqlite:///:memory:")
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            # Kept open for the next session (its page cache warm: a pack's 2,000 rows
            # recorded cost 20% less), as many as are asked for: never a pool to wait for.
            kwargs.update(poolclass=QueuePool, pool_size=4, max_overflow=-1)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
