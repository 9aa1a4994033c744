"""Who is asking, and what they may read, add to and manage: the one place Floe's access rules
live.

Every thing a user keeps (a dataset, a project with its jobs, logs and outputs, an
environment) has an **owner**: a user, or a **team** (a JupyterHub group). Then:

- **read**: the owner, members of an owning team, whoever the thing is **shared** with (a user,
  or every member of a team it is shared with), everyone when it is public (datasets and
  environments may be), and admins;
- **write** (add a version, run a job in a project): the owner, an owning team's members, admins;
- **manage** (delete, share, make public, change a team's settings): the owner, an owning
  team's **maintainers**, admins.

Whoever may not read a thing is told it does not exist (see :class:`floe.core.errors.NotFound`).
A :class:`Caller` carries everything these rules need (their teams, what is shared with them),
so each rule is a plain function, the same in the service, the hub's spawner and a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from .errors import Forbidden as ForbiddenError
from .errors import NotFound as NotFoundError

# What makes a hub admin a Floe admin in the floe service: a scope their own tokens and logins
# carry, and the tokens inside their workspaces and jobs do not (a notebook can read those).
ADMIN_SCOPE = "custom:floe:admin"

# The kinds of things that may be shared, as the shares table and the API name them.
DATASET = "dataset"
PROJECT = "project"
ENVIRONMENT = "environment"
SHARE_KINDS = (DATASET, PROJECT, ENVIRONMENT)

# (kind, owner, name): one thing that may be shared, all its versions or jobs alike.
ShareKey = tuple[str, str, str]


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hub user name, whether they are an admin, the teams they are a member
    of (and of those, which they maintain), and the things shared with them or their teams."""

    name: str
    admin: bool = False
    teams: frozenset[str] = frozenset()
    maintains: frozenset[str] = frozenset()
    shared: frozenset[ShareKey] = field(default=frozenset(), compare=False)

    @classmethod
    def from_hub(
        cls,
        model: dict,
        teams: frozenset[str] = frozenset(),
        maintains: frozenset[str] = frozenset(),
    ) -> Caller:
        """The caller a hub user model names: a Floe admin by the scope their token carries
        (the hub's admin flag alone is not enough: every token of theirs has it)."""
        return cls(
            name=model["name"],
            admin=ADMIN_SCOPE in (model.get("scopes") or ()),
            teams=frozenset(teams),
            maintains=frozenset(maintains) & frozenset(teams),
        )

    @property
    def owners(self) -> frozenset[str]:
        """The namespaces whose things the caller may add to: their own and their teams'."""
        return self.teams | {self.name}

    def member_of(self, owner: str) -> bool:
        """Whether ``owner`` is the caller or a team of theirs."""
        return owner == self.name or owner in self.teams

    def manages(self, owner: str) -> bool:
        """Whether the caller may delete and share what ``owner`` keeps."""
        return self.admin or owner == self.name or owner in self.maintains

    def with_shared(self, shared: frozenset[ShareKey] | set[ShareKey]) -> Caller:
        return replace(self, shared=frozenset(shared))


class Owned(Protocol):
    owner: str


def share_key(thing: object) -> ShareKey | None:
    """The key a share of ``thing`` is kept under: a dataset's or environment's name, or the
    project a job, task or schedule is of; None for what cannot be shared."""
    kind = getattr(thing, "share_kind", None)
    if kind is None:
        return None
    return kind, thing.owner, thing.share_name  # type: ignore[attr-defined]


def is_shared(caller: Caller, thing: object) -> bool:
    key = share_key(thing)
    return key is not None and key in caller.shared


def can_read(caller: Caller, thing: Owned) -> bool:
    """Owners, their teams and admins read anything; everyone reads what is public; whoever a
    thing is shared with reads it."""
    return (
        caller.admin
        or caller.member_of(thing.owner)
        or bool(getattr(thing, "public", False))
        or is_shared(caller, thing)
    )


def can_write(caller: Caller, thing: Owned) -> bool:
    """Owners, an owning team's members and admins add to a thing (a version, a job)."""
    return caller.admin or caller.member_of(thing.owner)


def can_manage(caller: Caller, thing: Owned) -> bool:
    """Owners, an owning team's maintainers and admins delete and share a thing."""
    return caller.manages(thing.owner)


def can_stop(caller: Caller, job: Owned) -> bool:
    """Who may stop a job (or a task, a serving job): whoever submitted it, while still one of
    its owners, and whoever manages what it is of."""
    submitter = getattr(job, "submitted_by", None) or job.owner
    return can_manage(caller, job) or (submitter == caller.name and can_write(caller, job))


def namespace_for(caller: Caller, owner: str | None) -> str:
    """The owner a new thing of ``caller``'s goes under: themselves, or a team of theirs when
    they name one (``ml-lab/mnist``). Any other name is refused as unknown: nobody learns
    which teams exist by trying."""
    if not owner or owner == caller.name:
        return caller.name
    if owner in caller.teams:
        return owner
    raise NotFoundError(
        f"no team {owner} that you are a member of: things are made under your own name "
        f"({caller.name}) or a team's you are in"
    )


def check_may_stop(caller: Caller, job: Owned) -> None:
    """Forbidden unless ``caller`` may stop ``job`` (a job or a task they can read)."""
    if not can_stop(caller, job):
        raise ForbiddenError(
            f"only whoever ran {job.full_name} (while one of {job.owner}'s members), "  # type: ignore[attr-defined]
            f"{job.owner}'s maintainers or an admin may stop it"
        )


MINE, SHARED, PUBLIC = "Mine", "Shared with me", "Public"


def section_of(caller: Caller, thing: Owned) -> str:
    """Which heading a list shows ``thing`` under for ``caller``: "Mine", "Team NAME", "Shared
    with me", "Public", or (for an admin) its owner's name."""
    if thing.owner == caller.name:
        return MINE
    if thing.owner in caller.teams:
        return f"Team {thing.owner}"
    if is_shared(caller, thing):
        return SHARED
    if getattr(thing, "public", False):
        return PUBLIC
    return f"{thing.owner}'s"  # an admin's view of another's


def sections(
    caller: Caller, things: list, thing_of: Callable = lambda x: x
) -> list[tuple[str, list]]:
    """``things`` under their headings, in the order a page shows them: mine, each team's (by
    name), shared with me, public, then others' (an admin's view); each list keeps its order.
    ``thing_of`` gives the owned thing an item of a list is about (a table row's)."""
    found: dict[str, list] = {}
    for item in things:
        found.setdefault(section_of(caller, thing_of(item)), []).append(item)

    def rank(title: str) -> tuple[int, str]:
        if title == MINE:
            return 0, ""
        if title.startswith("Team "):
            return 1, title
        return {SHARED: (2, ""), PUBLIC: (3, "")}.get(title, (4, title))

    return [(title, found[title]) for title in sorted(found, key=rank)]
