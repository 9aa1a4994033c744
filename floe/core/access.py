"""Who is asking, and what they may read and change: the one place Floe's access rules live.

Every object a user keeps has an owner. Datasets are private unless made public; projects,
jobs and their outputs are private. Admins see and act on everything. Whoever may not read a
thing is told it does not exist (see :class:`floe.core.errors.NotFound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# What makes a hub admin a Floe admin in the floe service: a scope their own tokens and logins
# carry, and the tokens inside their workspaces and jobs do not (a notebook can read those).
ADMIN_SCOPE = "custom:floe:admin"


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hub user name and whether they are an admin."""

    name: str
    admin: bool = False

    @classmethod
    def from_hub(cls, model: dict) -> Caller:
        """The caller a hub user model names: a Floe admin by the scope their token carries
        (the hub's admin flag alone is not enough: every token of theirs has it)."""
        return cls(name=model["name"], admin=ADMIN_SCOPE in (model.get("scopes") or ()))


class Owned(Protocol):
    owner: str


def can_read(caller: Caller, thing: Owned) -> bool:
    """Owners and admins read anything; everyone reads what is public (datasets may be)."""
    return caller.admin or thing.owner == caller.name or bool(getattr(thing, "public", False))


def can_write(caller: Caller, thing: Owned) -> bool:
    """Only owners and admins change a thing (add a version, stop a job)."""
    return caller.admin or thing.owner == caller.name
