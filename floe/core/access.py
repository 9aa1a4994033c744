"""Who is asking, and what they may read and change: the one place Floe's access rules live.

Every object a user keeps has an owner. Datasets are private unless made public; projects,
jobs and their outputs are private. Admins see and act on everything. Whoever may not read a
thing is told it does not exist (see :class:`floe.core.errors.NotFound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hub user name and whether they are an admin."""

    name: str
    admin: bool = False


class Owned(Protocol):
    owner: str


def can_read(caller: Caller, thing: Owned) -> bool:
    """Owners and admins read anything; everyone reads what is public (datasets may be)."""
    return caller.admin or thing.owner == caller.name or bool(getattr(thing, "public", False))


def can_write(caller: Caller, thing: Owned) -> bool:
    """Only owners and admins change a thing (add a version, stop a job)."""
    return caller.admin or thing.owner == caller.name
