"""Teams as Floe reads them: a JupyterHub group is a team, its users are the members, and its
``maintainers`` property names the members who manage it. Floe keeps no second list.

This module holds the rules, with no I/O: which group names can be teams, a team as read
from a hub group model, and a :class:`Directory` (every team at one moment) that answers
"which teams is this user in" in a dict lookup. The floe service refreshes its directory
from the hub (``floe_service.team_directory``); the hub's spawner reads its own database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .refs import OWNER_PATTERN

# The group property that names a team's maintainers (a list of user names).
MAINTAINERS = "maintainers"

_TEAM_NAME = re.compile(OWNER_PATTERN)
_RETIRED = re.compile(r".+~[0-9]{1,20}")


def team_name_problem(name: str) -> str:
    """Why a group called ``name`` cannot be a team ("" if it can): its name must be one a
    thing's owner can have (``ml-lab/mnist``), and not a form Floe keeps for retired users."""
    if not _TEAM_NAME.fullmatch(name or ""):
        return (
            f"the group name {name!r} cannot name a team: a team name is 1 to 255 characters "
            "without '/', ':', spaces or control characters"
        )
    if _RETIRED.fullmatch(name):
        return f"the group name {name!r} ends in '~' and digits, a form Floe keeps for itself"
    return ""


def named_like_user(name: str) -> str:
    return (
        f"{name!r} is a user's name, and a team may not be named like a user (their things "
        "would share one namespace): choose another name for the group"
    )


def named_like_team(name: str) -> str:
    return (
        f"{name!r} is a team's name (a hub group), and a user may not be named like a team: "
        "choose another user name"
    )


def memberships(
    user: str, groups: Iterable[tuple[str, dict | None]]
) -> tuple[frozenset[str], frozenset[str]]:
    """(teams, teams maintained) of ``user``, from the ``(name, properties)`` of the groups
    they are in (the hub's own database says which, in the hub's process)."""
    teams, maintains = set(), set()
    for name, properties in groups:
        if team_name_problem(name):
            continue
        teams.add(name)
        wanted = (properties or {}).get(MAINTAINERS) or ()
        if isinstance(wanted, (list, tuple)) and user in wanted:
            maintains.add(name)
    return frozenset(teams), frozenset(maintains)


@dataclass(frozen=True)
class Team:
    name: str
    members: frozenset[str]
    maintainers: frozenset[str] = frozenset()

    @classmethod
    def from_group(cls, model: dict) -> Team:
        """A team from a hub group model (``GET /hub/api/groups``): maintainers who are not
        members are no maintainers."""
        members = frozenset(model.get("users") or ())
        wanted = (model.get("properties") or {}).get(MAINTAINERS) or ()
        if isinstance(wanted, str) or not isinstance(wanted, (list, tuple)):
            wanted = ()
        return cls(
            name=model["name"],
            members=members,
            maintainers=frozenset(n for n in wanted if isinstance(n, str)) & members,
        )

    def public(self) -> dict:
        return {
            "name": self.name,
            "members": sorted(self.members),
            "maintainers": sorted(self.maintainers),
        }


@dataclass(frozen=True)
class Directory:
    """Every team at one moment, and each user's teams."""

    teams: dict[str, Team] = field(default_factory=dict)
    # Groups that cannot be teams, with why (named like a user, a name no owner can have).
    refused: dict[str, str] = field(default_factory=dict)
    _of: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, teams: Iterable[Team], refused: dict[str, str] | None = None) -> Directory:
        teams = {t.name: t for t in teams}
        member: dict[str, set[str]] = {}
        maintains: dict[str, set[str]] = {}
        for team in teams.values():
            for user in team.members:
                member.setdefault(user, set()).add(team.name)
            for user in team.maintainers:
                maintains.setdefault(user, set()).add(team.name)
        of = {
            user: (frozenset(names), frozenset(maintains.get(user, ())))
            for user, names in member.items()
        }
        return cls(teams=teams, refused=dict(refused or {}), _of=of)

    def teams_of(self, user: str) -> tuple[frozenset[str], frozenset[str]]:
        """(teams ``user`` is a member of, teams they maintain)."""
        return self._of.get(user, (frozenset(), frozenset()))

    def get(self, name: str) -> Team | None:
        return self.teams.get(name)
