"""Names as users write them: datasets ``[owner/]name[:version]``, projects ``cats``.

Apart from the database code, so that the ``floe`` command checks names without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from floe.errors import BadName

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
# Hub usernames are more varied than dataset names; this covers what JupyterHub allows here.
_OWNER = re.compile(r"^[^/:\s]{1,255}$")


@dataclass(frozen=True)
class DatasetRef:
    """``[owner/]name[:version]`` parsed; ``version`` None means the latest."""

    owner: str
    name: str
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}" + (f":{self.version}" if self.version else "")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadName(
            f"dataset name {name!r} must be 1-100 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, e.g. 'mnist' or 'cats-2024'"
        )
    return name


def parse_ref(text: str, default_owner: str) -> DatasetRef:
    """Parse ``[owner/]name[:version]``."""
    if not isinstance(text, str) or not text:
        raise BadName("a dataset is named like 'mnist', 'mnist:2' or 'alice/mnist:2'")
    name_part, _, version_part = text.partition(":")
    owner, slash, name = name_part.rpartition("/")
    owner = owner if slash else default_owner
    if slash and not _OWNER.match(owner):
        raise BadName(f"{text!r}: {owner!r} is not a user name")
    check_name(name)
    version = None
    if version_part:
        if not version_part.isdigit() or int(version_part) < 1:
            raise BadName(f"{text!r}: the version after ':' must be a number from 1 up")
        version = int(version_part)
    return DatasetRef(owner=owner, name=name, version=version)


def check_project_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadName(
            f"project {name!r} must be 1-100 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, e.g. 'cats'",
            field="project",
        )
    return name
