"""Datasets and their versions: names, access, upload and commit, resolving for mounts.

Used by the floe service (REST API) and by the spawner (mounting), so both enforce the same
rules: owners read and write their datasets, public ones are readable by all, admins see all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.errors import Conflict, Forbidden, NotFound
from floe.names import DatasetRef, check_name

from .db import Blob, Dataset, TreeRow, Version, add_numbered
from .tree import Tree


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hub user name and whether they are an admin."""

    name: str
    admin: bool = False


def can_read(caller: Caller, dataset: Dataset) -> bool:
    return caller.admin or dataset.public or dataset.owner == caller.name


def can_write(caller: Caller, dataset: Dataset) -> bool:
    return caller.admin or dataset.owner == caller.name


def get_dataset(db: Session, caller: Caller, owner: str, name: str) -> Dataset:
    """The dataset, if ``caller`` may read it; otherwise NotFound (existence is not leaked)."""
    dataset = db.scalar(select(Dataset).where(Dataset.owner == owner, Dataset.name == name))
    if dataset is None or not can_read(caller, dataset):
        raise NotFound(f"no dataset {owner}/{name} that you can read" + _suggest(db, caller, name))
    return dataset


def _suggest(db: Session, caller: Caller, name: str) -> str:
    import difflib

    names = [d.full_name for d in visible_datasets(db, caller)]
    close = difflib.get_close_matches(name, [n.split("/")[1] for n in names], n=3, cutoff=0.6)
    matches = [n for n in names if n.split("/")[1] in close]
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def visible_datasets(db: Session, caller: Caller) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.owner, Dataset.name)
    if not caller.admin:
        query = query.where((Dataset.owner == caller.name) | Dataset.public)
    return list(db.scalars(query))


def create_dataset(
    db: Session, caller: Caller, name: str, *, public: bool = False, description: str = ""
) -> Dataset:
    check_name(name)
    dataset = Dataset(owner=caller.name, name=name, public=public, description=description)
    db.add(dataset)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(f"you already have a dataset named {name}") from None
    return dataset


def get_version(db: Session, dataset: Dataset, number: int | None) -> Version:
    query = select(Version).where(Version.dataset_id == dataset.id)
    if number is None:
        version = db.scalar(query.order_by(Version.number.desc()).limit(1))
        if version is None:
            raise NotFound(f"{dataset.full_name} has no versions yet; upload one first")
        return version
    version = db.scalar(query.where(Version.number == number))
    if version is None:
        latest = db.scalar(select(func.max(Version.number)).where(Version.dataset_id == dataset.id))
        known = f"versions 1 to {latest}" if latest else "no versions yet"
        raise NotFound(f"{dataset.full_name} has no version {number} ({known})")
    return version


def resolve(db: Session, caller: Caller, ref: DatasetRef) -> tuple[Dataset, Version]:
    """The exact dataset version ``ref`` names, checked for read access."""
    dataset = get_dataset(db, caller, ref.owner, ref.name)
    return dataset, get_version(db, dataset, ref.version)


def load_tree(db: Session, digest: str) -> Tree:
    row = db.get(TreeRow, digest)
    if row is None:
        raise NotFound(f"tree {digest} is gone")
    return Tree.decode(row.manifest)


def missing_blobs(db: Session, blob_ids: set[str]) -> list[str]:
    """Which of ``blob_ids`` are not durable in the store yet."""
    ids = sorted(blob_ids)
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        known.update(db.scalars(select(Blob.sha256).where(Blob.sha256.in_(chunk))))
    return [i for i in ids if i not in known]


def record_blobs(db: Session, blobs: dict[str, int]) -> None:
    """Note blobs (id -> size) as durable in the store."""
    new = missing_blobs(db, set(blobs))
    db.add_all(Blob(sha256=sha, size=blobs[sha]) for sha in new)
    try:
        db.commit()
    except IntegrityError:  # some were recorded by a concurrent upload of the same bytes
        db.rollback()
        for sha in missing_blobs(db, set(new)):
            db.add(Blob(sha256=sha, size=blobs[sha]))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()


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


def commit_version(
    db: Session, caller: Caller, dataset: Dataset, tree: Tree, message: str = ""
) -> Version:
    """Make ``tree`` the next version of ``dataset``, once every blob is durable."""
    if not can_write(caller, dataset):
        raise Forbidden(f"only {dataset.owner} can add versions to {dataset.full_name}")
    missing = missing_blobs(db, tree.blob_ids())
    if missing:
        raise Conflict(
            f"{len(missing)} file(s) have not been uploaded yet; send them and retry",
            missing=missing,
        )
    dataset_id, full_name = dataset.id, dataset.full_name  # a rollback expires them

    def numbered(number: int) -> Version:
        return Version(
            dataset_id=dataset_id,
            number=number,
            tree_digest=save_tree(db, tree),
            message=message,
            created_by=caller.name,
            size=tree.size,
            file_count=tree.file_count,
        )

    version = add_numbered(
        db,
        Version.number,
        Version.dataset_id == dataset_id,
        numbered,
        f"too many concurrent commits to {full_name}; retry",
    )
    db.commit()
    return version
