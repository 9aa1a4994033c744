"""A hub user name belongs to one hub user: a name deleted and made again starts empty.

JupyterHub tells users apart by name only. Floe notes when the hub made each user it meets;
when the same name comes back with another creation time, what the earlier user kept is
retired to ``name~<when it was made>``: the new user sees none of it, admins still do, and
its schedules are paused (they would run its code for nobody).
Such names are Floe's alone: a hub user named like one is refused (see ``check_not_retired``),
so nobody can sign up as ``alice~2026…`` and take what the first alice kept.
"""

from __future__ import annotations

import re

from sqlalchemy import String, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from floe.core.errors import Forbidden

from .models import (
    Account,
    BlobHolder,
    CustomEnvironment,
    Dataset,
    EnvironmentName,
    Job,
    Project,
    Schedule,
    ServingToken,
    Share,
    StorageUse,
    Task,
    Version,
)

_RETIRED = re.compile(r".+~[0-9]{1,20}")

# Every column that says whose a row is, and so who may see and change it: retiring a name
# moves them all. A column naming a user is here or in HISTORY_COLUMNS (a test checks).
OWNER_COLUMNS = (
    Dataset.owner,
    Project.owner,
    Job.owner,
    Task.owner,
    Schedule.owner,
    CustomEnvironment.owner,
    EnvironmentName.owner,  # the numbers its environments gave go with them
    BlobHolder.holder,
    StorageUse.holder,
    Share.owner,
    Share.grantee,  # what was shared with the old user is not the new one's to read
)
# Columns that name a user but give them nothing: who did something, shown as it was.
HISTORY_COLUMNS = (
    (Version.created_by, "who committed the version; access follows the dataset's owner"),
    (ServingToken.created_by, "who made the token; the job's owner manages its tokens"),
    (Job.stop_requested_by, "who stopped the job, as its reason says"),
    (Task.stop_requested_by, "who stopped the task, as its page says"),
    (Job.submitted_by, "who ran a job; access follows its owner, the user or team"),
    (Task.submitted_by, "who ran a task; access follows its owner"),
    (Schedule.submitted_by, "who made a schedule; access follows its owner"),
    (Share.created_by, "who shared the thing; its owner's maintainers manage the share"),
)
# A retired account's schedules stop: they would run its code, on its data, for nobody.
SCHEDULE_RETIRED = "paused: its owner's account was deleted"


def retired_name(name: str, created: str) -> str:
    return f"{name}~{re.sub(r'[^0-9]', '', created)[:20] or '0'}"


def is_retired(name: str) -> bool:
    return _RETIRED.fullmatch(name) is not None


def check_not_retired(name: str) -> None:
    """Refuse (403) a hub user whose name is one Floe gives what it retires."""
    if is_retired(name):
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
            _retire(db, name, retired_name(name, account.created))
            account.created = created
        db.commit()
    except IntegrityError:
        db.rollback()  # a concurrent request of the same new user noted it first


def _retire(db: Session, name: str, old: str) -> None:
    stop = {"paused": True, "last_error": SCHEDULE_RETIRED}
    db.execute(update(Schedule).where(Schedule.owner == name).values(stop))
    for column in OWNER_COLUMNS:
        db.execute(update(column.class_).where(column == name).values({column.key: old}))
    _rename_references(db, name, old)


def _rename_references(db: Session, name: str, old: str) -> None:
    """Made environments and datasets are found again by name (``alice/nlp:2``: a job's
    environment when it starts, a build's base, a schedule's at each run): every such name
    meant the earlier user's."""
    mine = f"{name}/"
    for column in (Job.environment, CustomEnvironment.base):
        renamed = literal(old, String) + func.substr(column, len(name) + 1)
        db.execute(
            update(column.class_)
            .where(column.startswith(mine, autoescape=True))
            .values({column.key: renamed})
        )
    _rename_in_schedules(db, mine, old + "/")


def _rename_in_schedules(db: Session, mine: str, theirs: str) -> None:
    """A schedule resolves its environment and datasets again at each run (``alice/nlp:2``,
    ``alice/mnist``: the latest): in anyone's schedule, those names stay the earlier user's,
    never what the newcomer makes under the same name."""

    def renamed(text: object) -> object:
        if isinstance(text, str) and text.startswith(mine):
            return theirs + text[len(mine) :]
        return text

    for schedule in db.scalars(select(Schedule)):
        template = schedule.template or {}
        environment = renamed(template.get("environment"))
        if environment != template.get("environment"):
            schedule.template = {**template, "environment": environment}
        data = [renamed(spec) for spec in schedule.data or ()]
        if data != list(schedule.data or ()):
            schedule.data = data
