"""The database of datasets, versions, trees and known blobs (SQLAlchemy; SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

from floe.errors import Conflict


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


Row = TypeVar("Row", bound=Base)


def add_numbered(
    db: Session, counter: Any, scope: Any, make: Callable[[int], Row], busy: str
) -> Row:
    """Add ``make(n)``, n one past the highest ``counter`` of the rows in ``scope``; flush it.

    ``counter`` is unique within ``scope`` (a constraint of the table): when a concurrent
    writer takes n first, the flush fails, the transaction is rolled back and ``make`` is
    asked again with the next n. After 20 lost races: ``Conflict(busy)``. The caller commits.
    """
    for _attempt in range(20):
        number = (db.scalar(select(func.max(counter)).where(scope)) or 0) + 1
        row = make(number)
        db.add(row)
        try:
            db.flush()
            return row
        except IntegrityError:
            db.rollback()  # another writer took this number: take the next one
    raise Conflict(busy)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    versions: Mapped[list[Version]] = relationship(
        back_populates="dataset", order_by="Version.number"
    )

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class TreeRow(Base):
    """A tree's manifest, compressed; shared by every version with the same content."""

    __tablename__ = "trees"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)


class Version(Base):
    __tablename__ = "versions"
    # Two concurrent commits can both compute the same next number; this makes one retry.
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    tree_digest: Mapped[str] = mapped_column(ForeignKey("trees.digest"))
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[Dataset] = relationship(back_populates="versions")


class Blob(Base):
    """A blob known to be durable in the store (so 'which do you lack?' needs no store calls)."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


def make_engine(url: str) -> Engine:
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(url: str) -> sessionmaker:
    """Sessions of Floe's database at ``url``, its schema brought up to date first."""
    # Floe's database holds datasets and jobs; its migrations know both.
    from floe.migrations import upgrade_database

    engine = make_engine(url)
    upgrade_database(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


__all__ = [
    "Base",
    "Blob",
    "Dataset",
    "Engine",
    "TreeRow",
    "Version",
    "make_engine",
    "make_sessionmaker",
]
