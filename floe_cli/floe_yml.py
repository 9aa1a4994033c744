"""``floe.yml``: what ``floe run`` does in a project folder (FloydHub's floyd.yml, Valohai's
valohai.yaml steps).

Defaults at the top (``env``, ``machine``, ``data``, ``command``, ``parameters``,
``max_runtime``, ``mode``) and named ``steps`` with the same keys; ``floe run train`` runs
step ``train``, a step's keys win over the defaults, and flags on the command line win over
both (``--param`` adds to the parameters, one by one). A file that is not right is an error
naming its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from floe.core.durations import parse_duration
from floe.core.errors import FloeUserError
from floe.core.refs import check_name

from .verbs import UsageError

FILE = "floe.yml"
KEYS = ("env", "machine", "data", "command", "parameters", "max_runtime", "mode")
MAX_BYTES = 256 * 1024

TEMPLATE = """\
# floe.yml: what `floe run` does in this folder ({project}). Flags on the command line win.
#
# Defaults for every run:
# env: python                 # an environment (floe env ls)
# machine: cpu-small          # a machine type (floe machine ls)
# data:                       # datasets and outputs mounted read-only under /input
#   - mnist:1
# max_runtime: 2h             # stop the job after this long
# command: python train.py    # what `floe run` runs when given nothing
# parameters:                 # FLOE_PARAMETERS, and a notebook's parameters cell
#   lr: 0.01
#
# Named steps: `floe run train` runs this one (its keys win over the defaults).
# steps:
#   train:
#     command: python train.py
#     parameters:
#       epochs: 10
#   api:
#     mode: serve             # answers on $PORT until stopped; no command: app.py's `app`
"""


@dataclass
class Settings:
    """What one run takes from the file: the keys of KEYS that it sets."""

    values: dict[str, Any] = field(default_factory=dict)
    step: str | None = None


@dataclass
class FloeYml:
    path: Path
    defaults: dict[str, Any]
    steps: dict[str, dict[str, Any]]

    def settings(self, step: str | None) -> Settings:
        if step is None:
            return Settings(dict(self.defaults))
        merged = {**self.defaults, **self.steps[step]}
        if "parameters" in self.defaults and "parameters" in self.steps[step]:
            merged["parameters"] = {**self.defaults["parameters"], **self.steps[step]["parameters"]}
        return Settings(merged, step)


def _lines(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """The line (1-based) of every mapping key and list item, by its path in the document."""
    found: dict[tuple, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found[(*path, key.value)] = key.start_mark.line + 1
            found.update(
                {
                    k: v
                    for k, v in _lines(value, (*path, key.value)).items()
                    if k != (*path, key.value)
                }
            )
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(_lines(item, (*path, index)))
    return found


class _Reader:
    def __init__(self, path: Path, lines: dict[tuple, int]) -> None:
        self.path = path
        self.lines = lines

    def wrong(self, where: tuple, message: str) -> UsageError:
        line = self.lines.get(where) or self.lines.get(where[:-1]) or 1
        return UsageError(f"{self.path} line {line}: {message}")

    def block(self, value: Any, where: tuple, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.wrong(where, f"{'/'.join(map(str, where)) or 'the file'} must be a mapping")
        found = {}
        for key, item in value.items():
            here = (*where, key)
            if key not in allowed:
                raise self.wrong(here, f"unknown key {key!r}; known: {', '.join(allowed)}")
            if key != "steps":
                found[key] = self.value(key, item, here)
        return found

    def value(self, key: str, item: Any, where: tuple) -> Any:
        if key in ("env", "machine", "command"):
            if not isinstance(item, str) or not item.strip():
                raise self.wrong(where, f"{key} must be a non-empty string")
            return item
        if key == "mode":
            if item not in ("run", "serve"):
                raise self.wrong(where, f"mode must be run or serve, not {item!r}")
            return item
        if key == "data":
            items = [item] if isinstance(item, str) else item
            wrong = "data must be a dataset (mnist:1) or a list of them"
            if not isinstance(items, list):
                raise self.wrong(where, wrong)
            for index, one in enumerate(items):
                if not isinstance(one, str):
                    raise self.wrong((*where, index), wrong)
            return items
        if key == "parameters":
            if not isinstance(item, dict) or not all(isinstance(k, str) for k in item):
                raise self.wrong(where, "parameters must be a mapping of names to values")
            return item
        if key == "max_runtime":
            try:
                return parse_duration(str(item))
            except ValueError as err:
                raise self.wrong(where, f"max_runtime: {err}") from None
        raise AssertionError(key)


def read(folder: Path = Path(".")) -> FloeYml | None:
    """The folder's floe.yml, checked; None when there is none."""
    path = folder / FILE
    if not path.is_file():
        return None
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path} is over {MAX_BYTES // 1024} KiB; is it the right file?")
    try:
        text = data.decode()
        document = yaml.safe_load(text)
        tree = yaml.compose(text)
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise UsageError(f"{path}{line}: not YAML: {problem}") from None
    reader = _Reader(path, _lines(tree) if tree is not None else {})
    defaults = reader.block(document, (), (*KEYS, "steps"))
    steps_value = (document or {}).get("steps") or {}
    if not isinstance(steps_value, dict):
        raise reader.wrong(("steps",), "steps must be a mapping of step names to their keys")
    steps = {}
    for name, block in steps_value.items():
        try:
            check_name(str(name), "step name")
        except FloeUserError as err:
            raise reader.wrong(("steps", name), err.message) from None
        steps[str(name)] = reader.block(block, ("steps", name), KEYS)
    return FloeYml(path, defaults, steps)


def write_template(folder: Path, project: str) -> bool:
    """Write a commented floe.yml unless the folder has one; whether it was written."""
    path = folder / FILE
    if path.exists():
        return False
    path.write_text(TEMPLATE.format(project=project))
    return True
