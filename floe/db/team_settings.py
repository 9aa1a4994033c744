"""A team's quotas and shares of the machine types, as an admin set them.

No row (or a None in one) means the deployer's defaults hold for that team. The members and
maintainers are never here: they are the hub group's (``floe.core.teams``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import TeamSettings

FIELDS = ("storage_bytes", "max_running", "max_gpus", "shares")


def settings_of(db: Session, team: str) -> TeamSettings | None:
    return db.get(TeamSettings, team)


def all_settings(db: Session) -> dict[str, TeamSettings]:
    return {row.team: row for row in db.scalars(select(TeamSettings))}


def settings_json(row: TeamSettings | None) -> dict:
    return {
        "storage_bytes": row.storage_bytes if row else None,
        "max_running": row.max_running if row else None,
        "max_gpus": row.max_gpus if row else None,
        "shares": dict(row.shares or {}) if row else {},
    }


def update_settings(db: Session, team: str, changes: dict) -> TeamSettings:
    """Set the fields named in ``changes`` (a None clears one back to the default)."""
    for _ in range(2):
        row = db.get(TeamSettings, team) or TeamSettings(team=team, shares={})
        for key, value in changes.items():
            if key in FIELDS:
                setattr(row, key, dict(value or {}) if key == "shares" else value)
        row.updated = datetime.now(UTC)
        db.add(row)
        try:
            db.commit()
            return row
        except IntegrityError:  # made at the same moment by another admin: apply on top
            db.rollback()
    raise RuntimeError("team settings could not be kept")  # pragma: no cover


def storage_quota(db: Session, owner: str, default: int) -> int:
    """Bytes ``owner`` may keep: a team's own quota where an admin set one, else ``default``
    (0: no quota)."""
    row = db.get(TeamSettings, owner)
    if row is not None and row.storage_bytes is not None:
        return row.storage_bytes
    return default


def drop_settings(db: Session, team: str) -> None:
    row = db.get(TeamSettings, team)
    if row is not None:
        db.delete(row)
