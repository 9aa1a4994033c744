"""The queue's view of each team's settings: limits and the jobs of each machine type a team
is owed at once (its share of what the node runs of that type)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.orm import Session

from floe.db.team_settings import all_settings

from .queue import Shares, TeamLimits


def team_shares(db: Session, base: Shares, capacity: Callable[[str], int]) -> Shares:
    """``base`` with each team's limits; ``capacity(machine)`` is how many jobs of that
    machine type the node runs at once."""
    teams = {
        name: TeamLimits(
            max_running=row.max_running,
            max_gpus=row.max_gpus,
            owed={
                slug: float(share) * capacity(slug) for slug, share in (row.shares or {}).items()
            },
        )
        for name, row in all_settings(db).items()
    }
    return replace(base, teams=teams) if teams else base
