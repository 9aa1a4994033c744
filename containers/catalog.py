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
from floe.core.sizes import format_size, parse_size

try:
    FLOE_VERSION = version("floe")
except PackageNotFoundError:  # running from a checkout that was never installed
    FLOE_VERSION = "0.0.0"

WORKSPACE_IMAGE = f"floe/workspace:{FLOE_VERSION}"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Environment:
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

    @property
    def built(self) -> bool:
        """True when Floe builds this environment's image (from ``base`` + ``requirements``)."""
        return bool(self.base)


@dataclass(frozen=True)
class Machine:
    """A machine type: the CPU, memory and GPU limits of one container."""

    slug: str
    display_name: str
    cpu: float
    memory_bytes: int
    gpus: int = 0
    description: str = ""
    default: bool = False

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
        ``default`` (kubespawner's profile_list words). Example::

            c.Catalog.environments = DEFAULT_ENVIRONMENTS + [
                {"slug": "torch", "display_name": "PyTorch", "image": "myorg/torch:2.4"},
                {"slug": "nlp", "display_name": "NLP", "base": "datascience",
                 "requirements": "/srv/floe/nlp-requirements.txt"},
            ]
        """,
    )

    machines = List(
        default_value=DEFAULT_MACHINES,
        config=True,
        help="""
        Machine types users pick from, each a dict with ``slug``, ``display_name``, ``cpu``
        (cores, may be fractional), ``memory`` (e.g. ``"2Gi"``), and optionally ``gpus``,
        ``description`` and ``default``. Example::

            c.Catalog.machines = [
                {"slug": "cpu-small", "display_name": "CPU small", "cpu": 1, "memory": "2Gi",
                 "default": True},
                {"slug": "gpu-1", "display_name": "GPU", "cpu": 4, "memory": "16Gi", "gpus": 1},
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
        )

    def environment_list(self) -> list[Environment]:
        return [
            Environment(
                slug=e["slug"],
                display_name=e.get("display_name", e["slug"]),
                image=e.get("image", ""),
                description=e.get("description", ""),
                default=bool(e.get("default", False)),
                base=e.get("base", ""),
                requirements=e.get("requirements", ""),
            )
            for e in self.environments
        ]

    def machine_list(self) -> list[Machine]:
        return [self._machine(m) for m in self.machines]

    def environment_by_slug(self, slug: str) -> Environment | None:
        return next((e for e in self.environment_list() if e.slug == slug), None)

    def machine_by_slug(self, slug: str) -> Machine | None:
        return next((m for m in self.machine_list() if m.slug == slug), None)

    def default_environment(self) -> Environment:
        envs = self.environment_list()
        return next((e for e in envs if e.default), envs[0])

    def default_machine(self) -> Machine:
        machines = self.machine_list()
        return next((m for m in machines if m.default), machines[0])
