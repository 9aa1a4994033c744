"""Datasets and their versions: access, creating, committing a version, resolving a name.

Used by the floe service (REST API and pages) and by the spawner (mounting), so both enforce
the same rules (``floe.core.access``): owners read and write their datasets, public ones are
readable by all, admins see all.
"""

from __future__ import annotations

import difflib

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.core.access import DATASET, Caller, can_read, can_write, namespace_for
from floe.core.errors import Conflict, Forbidden, NotFound
from floe.core.refs import DatasetRef, check_name
from floe.db.base import add_numbered
from floe.db.lookup import find_dataset
from floe.db.models import Dataset, Version
from floe.db.sharing import readable
from floe.trees.tree import Tree

from .keep import require_uploaded, save_tree


def get_dataset(db: Session, caller: Caller, owner: str, name: str) -> Dataset:
    """The dataset, if ``caller`` may read it; otherwise NotFound (existence is not leaked)."""
    dataset = find_dataset(db, owner, name)
    if dataset is None or not can_read(caller, dataset):
        raise NotFound(f"no dataset {owner}/{name} that you can read" + _suggest(db, caller, name))
    return dataset


def _suggest(db: Session, caller: Caller, name: str) -> str:
    visible = visible_datasets(db, caller)
    close = difflib.get_close_matches(name, [d.name for d in visible], n=3, cutoff=0.6)
    matches = [d.full_name for d in visible if d.name in close]
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def visible_datasets(db: Session, caller: Caller) -> list[Dataset]:
    """Every dataset ``caller`` may read: theirs, their teams', shared with them, public."""
    query = select(Dataset).order_by(Dataset.owner, Dataset.name)
    query = query.where(readable(caller, DATASET, Dataset.owner, Dataset.name, Dataset.public))
    return list(db.scalars(query))


def create_dataset(
    db: Session,
    caller: Caller,
    name: str,
    *,
    public: bool = False,
    description: str = "",
    owner: str | None = None,
) -> Dataset:
    """A new dataset of the caller's, or of a team of theirs (``owner``)."""
    check_name(name)
    owner = namespace_for(caller, owner)
    dataset = Dataset(owner=owner, name=name, public=public, description=description)
    db.add(dataset)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        whose = "you already have" if owner == caller.name else f"{owner} already has"
        raise Conflict(f"{whose} a dataset named {name}") from None
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
    dataset = get_dataset(db, caller, ref.owner or caller.name, ref.name)
    return dataset, get_version(db, dataset, ref.version)


def commit_version(
    db: Session, caller: Caller, dataset: Dataset, tree: Tree, message: str = ""
) -> Version:
    """Make ``tree`` the next version of ``dataset``, once every blob is durable."""
    if not can_write(caller, dataset):
        # (A team's name here means its members: anyone else is not one.)
        raise Forbidden(f"only {dataset.owner} can add versions to {dataset.full_name}")
    tree = require_uploaded(db, tree, caller)
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
        Dataset.last_version_number,
        lambda: db.get(Dataset, dataset_id),
        numbered,
        f"too many concurrent commits to {full_name}; retry",
    )
    db.commit()
    return version
