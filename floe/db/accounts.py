"""A hub user name belongs to one hub user: a name deleted and made again starts empty.

JupyterHub tells users apart by name only. Floe notes when the hub made each user it meets;
when the same name comes back with another creation time, what the earlier user kept is
retired to ``name~<when it was made>``: the new user sees none of it, admins still do.
"""

from __future__ import annotations

import re

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Account, BlobHolder, Dataset, Job, Project


def retired_name(name: str, created: str) -> str:
    return f"{name}~{re.sub(r'[^0-9]', '', created)[:20]}"


def claim_name(db: Session, name: str, created: str) -> None:
    """Make sure what Floe keeps under ``name`` is the hub user's made at ``created``."""
    account = db.get(Account, name)
    if account is None:
        db.add(Account(name=name, created=created))
    elif account.created != created:
        old = retired_name(name, account.created)
        for column in (Dataset.owner, Project.owner, Job.owner, BlobHolder.holder):
            db.execute(update(column.class_).where(column == name).values({column.key: old}))
        account.created = created
    else:
        return
    try:
        db.commit()
    except IntegrityError:
        db.rollback()  # a concurrent request of the same new user noted it first
