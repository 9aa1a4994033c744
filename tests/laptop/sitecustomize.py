"""Make this Python a laptop's: only what ``pip install floe`` brings (no ``[hub]`` extra).

The tests run the ``floe`` command with this folder on PYTHONPATH, so an import of anything
the command line does not declare (SQLAlchemy, tornado, docker, …) fails them, as it would
fail a user who installed the command line alone.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys

from packaging.requirements import Requirement


def _declared(dist: str, seen: set[str]) -> set[str]:
    """``dist`` and what it requires here (no extras), as normalised distribution names."""
    name = re.sub(r"[-_.]+", "-", dist).lower()
    if name in seen:
        return seen
    seen.add(name)
    for line in metadata.requires(dist) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            _declared(requirement.name, seen)
    return seen


def _allowed_modules() -> set[str]:
    """Floe's own packages and those of what it declares; the import graph decides which of
    Floe's the command line reaches (tests/unit/test_architecture.py), not a list here."""
    dists = _declared("floe", set())
    allowed = set()
    for module, owners in metadata.packages_distributions().items():
        if any(re.sub(r"[-_.]+", "-", d).lower() in dists for d in owners):
            allowed.add(module)
    return allowed


class _LaptopOnly:
    allowed = _allowed_modules()

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top.startswith("_") or top in self.allowed:
            return None
        raise ModuleNotFoundError(
            f"No module named {name!r} (the floe command may not import it: "
            "it is not among the command line's dependencies)",
            name=name,
        )


sys.meta_path.insert(0, _LaptopOnly())
