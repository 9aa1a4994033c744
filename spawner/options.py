"""Spawn options: what a user may ask for, from the form or the REST API, checked on the server.

``user_options`` is ``{"environment": "<slug>", "machine": "<slug>"}``; both keys may be left
out to take the deployer's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from .catalog import Catalog, Environment, Machine
from .errors import FloeUserError, InvalidOptions, UnknownEnvironment, UnknownMachine

T = TypeVar("T", Environment, Machine)

# "datasets" joins these when dataset mounts arrive; it is accepted as a key already so
# clients written against the documented shape are not rejected.
KNOWN_KEYS = ("environment", "machine")


@dataclass(frozen=True)
class WorkspaceOptions:
    """Validated spawn options."""

    environment: Environment
    machine: Machine


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


def parse_user_options(raw: dict | None, catalog: Catalog) -> WorkspaceOptions:
    """Check ``raw`` against the catalog; raise a :class:`FloeUserError` naming valid choices."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise InvalidOptions("spawn options must be a JSON object")
    unknown = sorted(set(raw) - set(KNOWN_KEYS) - {"datasets"})
    if unknown:
        raise InvalidOptions(
            f"unknown option(s) {', '.join(unknown)}; valid options: {', '.join(KNOWN_KEYS)}"
        )
    if raw.get("datasets"):
        raise InvalidOptions("dataset mounts are not available yet on this Floe")

    environment = _choose(
        _slug_option(raw, "environment"),
        {e.slug: e for e in catalog.environment_list()},
        catalog.default_environment(),
        UnknownEnvironment,
        "environment",
    )
    machine = _choose(
        _slug_option(raw, "machine"),
        {m.slug: m for m in catalog.machine_list()},
        catalog.default_machine(),
        UnknownMachine,
        "machine",
    )
    return WorkspaceOptions(environment=environment, machine=machine)


def options_from_form(formdata: dict[str, list[str]]) -> dict:
    """Turn the options form's fields into the same ``user_options`` the REST API takes."""
    return {key: formdata[key][0] for key in KNOWN_KEYS if formdata.get(key)}
