"""A hub user name belongs to one hub user: a name deleted and made again starts empty.

JupyterHub tells users apart by name only. Floe notes when the hub made each user it meets;
when the same name comes back with another creation time, what the earlier user kept is
retired to ``name~<when it was made>``: the new user sees none of it, admins still do.
Such names are Floe's alone: a hub user named like one is refused (see ``check_not_retired``),
so nobody can sign up as ``alice~2026…`` and take what the first alice kept.
"""

from __future__ import annotations

import re

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.core.errors import Forbidden

from .models import Account, BlobHolder, Dataset, Job, Project, StorageUse

_RETIRED = re.compile(r".+~[0-9]{1,20}")


def retired_name(name: str, created: str) -> str:
    return f"{name}~{re.sub(r'[^0-9]', '', created)[:20] or '0'}"


def check_not_retired(name: str) -> None:
    """Refuse (403) a hub user whose name is one Floe gives what it retires."""
    if _RETIRED.fullmatch(name):
        raise Forbidden(
            f"the user name {name!r} ends in '~' and digits, the form Floe keeps for the "
            "accounts it retired; ask your hub's admin for a name without it"
        )


def claim_name(db: Session, name: str, created: str) -> None:
    """Make sure what Floe keeps under ``name`` is the hub user's made at ``created``."""
    account = db.get(Account, name)
    if account is None:
        db.add(Account(name=name, created=created))
    elif account.created == created:
        return
    try:
        if account is not None:
            old = retired_name(name, account.created)
            columns = (
                Dataset.owner,
                Project.owner,
                Job.owner,
                BlobHolder.holder,
                StorageUse.holder,
            )
            for column in columns:
                db.execute(update(column.class_).where(column == name).values({column.key: old}))
            account.created = created
        db.commit()
    except IntegrityError:
        db.rollback()  # a concurrent request of the same new user noted it first
