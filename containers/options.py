"""Spawn options: what a user may ask for, from the form or the REST API, checked on the server.

``user_options`` is ``{"environment": "<slug>", "machine": "<slug>"}``; both keys may be left
out to take the deployer's defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from floe.core.access import Caller
from floe.core.errors import FloeUserError, InvalidOptions, UnknownEnvironment, UnknownMachine

from .catalog import Catalog, Environment, Machine

T = TypeVar("T", Environment, Machine)

KNOWN_KEYS = ("environment", "machine", "datasets")


@dataclass(frozen=True)
class WorkspaceOptions:
    """Validated spawn options."""

    environment: Environment
    machine: Machine
    # Mount specs as given ("mnist:2", "bob/cats:1:/input/pets"); checked against the
    # datasets database when the workspace starts (dataset_mounter.mounts).
    datasets: tuple[str, ...] = ()


def _slug_option(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if isinstance(value, list) and len(value) == 1:  # form data arrives as lists of strings
        value = value[0]
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidOptions(f"'{key}' must be a string slug, not {type(value).__name__}")
    return value


def _choose(
    slug: str | None, choices: dict[str, T], default: T, error: type[FloeUserError], noun: str
) -> T:
    if slug is None:
        return default
    if slug not in choices:
        raise error(f"unknown {noun} '{slug}'; valid {noun}s: {', '.join(choices)}")
    return choices[slug]


def parse_user_options(
    raw: dict | None,
    catalog: Catalog,
    caller: Caller | None,
    find_environment: Callable[[str], Environment] | None = None,
) -> WorkspaceOptions:
    """Check ``raw`` against the catalog as ``caller`` may use it (``None``: Floe itself, all
    of it); raise a :class:`FloeUserError` naming valid choices. A team's entry that
    ``caller`` is not a member of is unknown to them, like one there is none of. An
    environment not found so is looked for with ``find_environment`` (the made ones,
    ``owner/name:N``, and the catalog's as ``caller`` may use them), which raises its own
    errors."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise InvalidOptions("spawn options must be a JSON object")
    unknown = sorted(set(raw) - set(KNOWN_KEYS))
    if unknown:
        raise InvalidOptions(
            f"unknown option(s) {', '.join(unknown)}; valid options: {', '.join(KNOWN_KEYS)}"
        )
    datasets = raw.get("datasets") or []
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise InvalidOptions(
            "'datasets' must be a list of strings like 'mnist', 'mnist:2' or "
            "'bob/cats:1:/input/pets'"
        )

    wanted = _slug_option(raw, "environment")
    if wanted is not None and find_environment is not None:
        environment = find_environment(wanted)
    else:
        environment = _choose(
            wanted,
            {e.slug: e for e in catalog.environments_for(caller)},
            catalog.default_environment(),
            UnknownEnvironment,
            "environment",
        )
    machine = _choose(
        _slug_option(raw, "machine"),
        {m.slug: m for m in catalog.machines_for(caller)},
        catalog.default_machine(),
        UnknownMachine,
        "machine",
    )
    return WorkspaceOptions(environment=environment, machine=machine, datasets=tuple(datasets))


def options_from_form(formdata: dict[str, list[str]]) -> dict:
    """Turn the options form's fields into the same ``user_options`` the REST API takes.

    The form has rows of ``dataset`` (``owner/name:N``) and ``mount`` (optional mount point).
    """
    options: dict = {k: formdata[k][0] for k in ("environment", "machine") if formdata.get(k)}
    rows = zip(formdata.get("dataset", []), formdata.get("mount", []), strict=False)
    specs = [f"{d}:{m.strip()}" if m.strip() else d for d, m in rows if d]
    if specs:
        options["datasets"] = specs
    return options
