"""Environments (images) and machine types: the one list a deployer edits.

Workspaces and jobs read the same catalog, so "cpu-small" means the same limits in both.
Entries follow kubespawner's ``profile_list`` vocabulary: ``slug``, ``display_name``,
``description``, ``default``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from traitlets import List, TraitError, validate
from traitlets.config import LoggingConfigurable

from containers.stock import requirements_path
from floe.core.access import Caller
from floe.core.sizes import format_size, parse_size
from floe.core.teams import team_name_problem

try:
    FLOE_VERSION = version("floe")
except PackageNotFoundError:  # running from a checkout that was never installed
    FLOE_VERSION = "0.0.0"

WORKSPACE_IMAGE = f"floe/workspace:{FLOE_VERSION}"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class _TeamLimited:
    """An entry a deployer may limit to teams (``teams``): offered to and accepted from their
    members and admins only; without ``teams``, everyone's."""

    teams: tuple[str, ...]

    def open_to(self, caller: Caller | None) -> bool:
        """Whether ``caller`` may see and use this entry (``None``: Floe itself, which may): a
        member of one of its teams, or the team itself (a team's schedule runs as the team)."""
        return (
            caller is None
            or not self.teams
            or caller.admin
            or any(caller.member_of(team) for team in self.teams)
        )


@dataclass(frozen=True)
class Environment(_TeamLimited):
    """A software environment: one container image people work and run jobs in.

    Either a plain ``image``, or another environment (``base``) plus requirements (a
    ``requirements`` file, or for environments people make their ``requirements_text``): its
    image is then built on first use (``environments.images``) and reused. Made ones
    (``environments.custom``) have an ``owner`` and their slug is ``owner/name:N``.
    """

    slug: str
    display_name: str
    image: str = ""
    description: str = ""
    default: bool = False
    base: str = ""
    requirements: str = ""
    requirements_text: str = ""
    owner: str = ""
    # A published made one: the id of the image an admin approved, which it runs in, never
    # one built again from its requirements (a URL there may serve other bytes by now).
    approved_image_id: str = ""
    # The teams (hub groups) whose members may use it; empty: everyone.
    teams: tuple[str, ...] = ()

    @property
    def built(self) -> bool:
        """True when Floe builds this environment's image (from ``base`` + ``requirements``)."""
        return bool(self.base)


@dataclass(frozen=True)
class Machine(_TeamLimited):
    """A machine type: the CPU, memory and GPU limits of one container."""

    slug: str
    display_name: str
    cpu: float
    memory_bytes: int
    gpus: int = 0
    description: str = ""
    default: bool = False
    # The teams (hub groups) whose members may use it; empty: everyone.
    teams: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        parts = [f"{self.cpu:g} CPU", format_size(self.memory_bytes)]
        if self.gpus:
            parts.insert(0, f"{self.gpus} GPU")
        return ", ".join(parts)


DEFAULT_ENVIRONMENTS = [
    {
        "slug": "python",
        "display_name": "Python",
        "description": "Python 3 with JupyterLab, a terminal and the IPython kernel.",
        "image": WORKSPACE_IMAGE,
        "default": True,
    },
    {
        "slug": "datascience",
        "display_name": "Data science",
        "description": "numpy, pandas, scipy, scikit-learn, matplotlib, seaborn, pyarrow, tqdm "
        "(built on first use: a few minutes).",
        "base": "python",
        "requirements": "stock:datascience",
    },
    {
        "slug": "pytorch",
        "display_name": "PyTorch",
        "description": "torch and torchvision, CUDA-enabled, for CPU and GPU machines "
        "(built on first use: several minutes, about 6 GB).",
        "base": "python",
        "requirements": "stock:pytorch",
    },
]

DEFAULT_MACHINES = [
    {
        "slug": "cpu-small",
        "display_name": "CPU small",
        "cpu": 1,
        "memory": "2Gi",
        "description": "For editing notebooks and light work.",
        "default": True,
    },
    {
        "slug": "cpu-large",
        "display_name": "CPU large",
        "cpu": 2,
        "memory": "8Gi",
        "description": "For heavier preprocessing and training on CPU.",
    },
    {
        "slug": "gpu-1",
        "display_name": "GPU",
        "cpu": 4,
        "memory": "16Gi",
        "gpus": 1,
        "description": "One GPU of its own, for training.",
    },
]


def _check_slugs(kind: str, entries: list[dict]) -> None:
    seen: set[str] = set()
    for entry in entries:
        slug = entry.get("slug", "")
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise TraitError(
                f"{kind} slug {slug!r} must be lowercase letters, digits and '-', e.g. 'cpu-small'"
            )
        if slug in seen:
            raise TraitError(f"{kind} slug {slug!r} appears twice")
        seen.add(slug)
    if sum(bool(entry.get("default")) for entry in entries) > 1:
        raise TraitError(f"at most one {kind} may be the default")
    for entry in entries:
        entry_teams(kind, entry)
    if all(entry.get("teams") for entry in entries):
        raise TraitError(
            f"every {kind} is limited to teams: leave 'teams' out of at least one, the one "
            "everyone else gets"
        )
    for entry in entries:
        if entry.get("default") and entry.get("teams"):
            raise TraitError(
                f"{kind} {entry['slug']!r} is the default, which is everyone's: it may not "
                "be limited to teams"
            )


def entry_teams(kind: str, entry: dict) -> tuple[str, ...]:
    """The ``teams`` a catalog entry is limited to (``()``: everyone's), checked: a list of
    team (hub group) names."""
    teams = entry.get("teams")
    if teams is None:
        return ()
    where = f"{kind} {entry.get('slug')!r}: 'teams'"
    if not isinstance(teams, (list, tuple)) or not teams:
        raise TraitError(
            f'{where} must be a non-empty list of team names, like ["ml-lab"] (leave it '
            f"out for a {kind} everyone may use), not {teams!r}"
        )
    for team in teams:
        if not isinstance(team, str):
            raise TraitError(f"{where} must be a list of team names (strings), not {team!r}")
        problem = team_name_problem(team)
        if problem:
            raise TraitError(f"{where}: {problem}")
    return tuple(dict.fromkeys(teams))


class Catalog(LoggingConfigurable):
    """What a user may pick: environments and machine types. Deployers configure it."""

    environments = List(
        default_value=DEFAULT_ENVIRONMENTS,
        config=True,
        help="""
        Environments users pick from, each a dict with ``slug``, ``display_name``, and either
        ``image`` (an image on the node) or ``base`` (another environment's slug) and
        ``requirements`` (a pip requirements file: a path, or ``stock:NAME`` for Floe's own in
        containers/stock/), built on first use and reused; optionally ``description`` and
        ``default`` (kubespawner's profile_list words), and ``teams``: a list of teams (hub
        groups) whose members alone (and admins) are offered it and may use it; to anyone
        else it does not exist. Without ``teams`` it is everyone's, as the default must be.
        One built on a team's environment is limited to (some of) that team's too. Example::

            c.Catalog.environments = DEFAULT_ENVIRONMENTS + [
                {"slug": "torch", "display_name": "PyTorch", "image": "myorg/torch:2.4"},
                {"slug": "nlp", "display_name": "NLP", "base": "datascience",
                 "requirements": "/srv/floe/nlp-requirements.txt"},
                {"slug": "lab-tools", "display_name": "Lab tools", "image": "myorg/lab:3",
                 "teams": ["ml-lab"]},
            ]
        """,
    )

    machines = List(
        default_value=DEFAULT_MACHINES,
        config=True,
        help="""
        Machine types users pick from, each a dict with ``slug``, ``display_name``, ``cpu``
        (cores, may be fractional), ``memory`` (e.g. ``"2Gi"``), and optionally ``gpus``,
        ``description``, ``default`` and ``teams``: a list of teams (hub groups) whose members
        alone (and admins) are offered it and may run workspaces and jobs on it; to anyone
        else it does not exist. Without ``teams`` it is everyone's, as the default (the first
        without ``teams`` when none says ``default``) must be. Example::

            c.Catalog.machines = [
                {"slug": "cpu-small", "display_name": "CPU small", "cpu": 1, "memory": "2Gi",
                 "default": True},
                {"slug": "gpu-1", "display_name": "GPU", "cpu": 4, "memory": "16Gi", "gpus": 1},
                {"slug": "gpu-4", "display_name": "4 GPUs", "cpu": 16, "memory": "64Gi",
                 "gpus": 4, "teams": ["ml-lab", "vision"]},
            ]
        """,
    )

    @validate("environments")
    def _validate_environments(self, proposal: dict) -> list[dict]:
        entries = proposal["value"]
        if not entries:
            raise TraitError("at least one environment is needed")
        _check_slugs("environment", entries)
        slugs = {entry["slug"]: entry for entry in entries}
        for entry in entries:
            slug = entry["slug"]
            if bool(entry.get("image")) == bool(entry.get("base")):
                raise TraitError(
                    f"environment {slug!r} needs either an 'image' or a 'base' (and "
                    "'requirements'), not both"
                )
            if entry.get("base"):
                if not entry.get("requirements"):
                    raise TraitError(f"environment {slug!r} has a 'base' but no 'requirements'")
                seen = [slug]
                while slugs.get(seen[-1], {}).get("base"):
                    seen.append(slugs[seen[-1]]["base"])
                    if seen[-1] not in slugs:
                        raise TraitError(f"environment {slug!r}: no environment {seen[-1]!r}")
                    if seen[-1] in seen[:-1]:
                        raise TraitError(f"environments {' -> '.join(seen)} build on each other")
                try:
                    requirements_path(entry["requirements"])
                except ValueError as err:
                    raise TraitError(f"environment {slug!r}: {err}") from err
                base_teams = set(entry_teams("environment", slugs[entry["base"]]))
                teams = set(entry_teams("environment", entry))
                if base_teams and not (teams and teams <= base_teams):
                    raise TraitError(
                        f"environment {slug!r} is built on {entry['base']!r}, which is for the "
                        f"teams {', '.join(sorted(base_teams))} only: limit {slug!r} to "
                        "(some of) them too ('teams')"
                    )
        return entries

    @validate("machines")
    def _validate_machines(self, proposal: dict) -> list[dict]:
        entries = proposal["value"]
        if not entries:
            raise TraitError("at least one machine type is needed")
        _check_slugs("machine", entries)
        for entry in entries:
            try:
                self._machine(entry)
            except (KeyError, ValueError, TypeError) as err:
                raise TraitError(f"machine {entry['slug']!r}: {err}") from err
        return entries

    @staticmethod
    def _machine(entry: dict) -> Machine:
        cpu = float(entry["cpu"])
        gpus = int(entry.get("gpus", 0))
        if cpu <= 0 or gpus < 0:
            raise ValueError("cpu must be > 0 and gpus >= 0")
        return Machine(
            slug=entry["slug"],
            display_name=entry.get("display_name", entry["slug"]),
            cpu=cpu,
            memory_bytes=parse_size(entry["memory"]),
            gpus=gpus,
            description=entry.get("description", ""),
            default=bool(entry.get("default", False)),
            teams=entry_teams("machine", entry),
        )

    def environment_list(self) -> list[Environment]:
        """Every environment, whoever may use it: for Floe itself (builds, the runner). What a
        user is offered is :meth:`environments_for`."""
        return [
            Environment(
                slug=e["slug"],
                display_name=e.get("display_name", e["slug"]),
                image=e.get("image", ""),
                description=e.get("description", ""),
                default=bool(e.get("default", False)),
                base=e.get("base", ""),
                requirements=e.get("requirements", ""),
                teams=entry_teams("environment", e),
            )
            for e in self.environments
        ]

    def machine_list(self) -> list[Machine]:
        """Every machine type, whoever may use it: for Floe itself (the runner, placement).
        What a user is offered is :meth:`machines_for`."""
        return [self._machine(m) for m in self.machines]

    def environments_for(self, caller: Caller | None) -> list[Environment]:
        """The environments ``caller`` is offered and may use (``None``: Floe itself, all)."""
        return [e for e in self.environment_list() if e.open_to(caller)]

    def machines_for(self, caller: Caller | None) -> list[Machine]:
        """The machine types ``caller`` is offered and may use (``None``: Floe itself, all)."""
        return [m for m in self.machine_list() if m.open_to(caller)]

    def environment_for(self, caller: Caller | None, slug: str) -> Environment | None:
        """The environment ``slug`` names for ``caller``: None when there is none, or when it
        is a team's they are not in (told apart from none by nobody)."""
        return next((e for e in self.environments_for(caller) if e.slug == slug), None)

    def machine_for(self, caller: Caller | None, slug: str) -> Machine | None:
        """The machine type ``slug`` names for ``caller``; None as :meth:`environment_for`."""
        return next((m for m in self.machines_for(caller) if m.slug == slug), None)

    def environment_by_slug(self, slug: str) -> Environment | None:
        """Any environment of the catalog, for Floe itself (``environment_for`` for a user)."""
        return self.environment_for(None, slug)

    def machine_by_slug(self, slug: str) -> Machine | None:
        """Any machine type of the catalog, for Floe itself (``machine_for`` for a user)."""
        return self.machine_for(None, slug)

    def default_environment(self) -> Environment:
        """The one marked ``default``, else the first that is everyone's (validation makes
        sure there is one, and that a marked default is everyone's)."""
        envs = self.environment_list()
        return next((e for e in envs if e.default), next(e for e in envs if not e.teams))

    def default_machine(self) -> Machine:
        """As :meth:`default_environment`: everyone's."""
        machines = self.machine_list()
        return next((m for m in machines if m.default), next(m for m in machines if not m.teams))
