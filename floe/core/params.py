"""Parameters as people write them (``floe run --param``, the Run as job dialog's sweep):
``NAME=VALUE`` fixes a parameter, and ``NAME=A,B,C`` sweeps it (one job per value, a task).

A value is read as JSON when it is JSON (``lr=0.1``, ``layers=[64,32]``, ``name="a,b"``), else
as text; a value that is no JSON and holds commas is a list to sweep, each item read the same
way (``\\,`` is a comma that does not split).
"""

from __future__ import annotations

import json
import re

from .errors import InvalidRequest

_SPLIT = re.compile(r"(?<!\\),")


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(items: list[str] | None) -> tuple[dict, dict[str, list]]:
    """``(fixed, sweep)`` from ``--param`` items."""
    fixed: dict = {}
    sweep: dict[str, list] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(
                f"parameter {item!r}: write it as NAME=VALUE, e.g. lr=0.1 (lr=0.1,0.01 sweeps)"
            )
        try:
            fixed[key] = json.loads(text)
            continue
        except ValueError:
            pass
        parts = _SPLIT.split(text)
        if len(parts) == 1:
            fixed[key] = text.replace("\\,", ",")
            continue
        if any(not p for p in parts):
            raise InvalidRequest(f"parameter {item!r}: an empty value between commas")
        sweep[key] = [_value(p.replace("\\,", ",")) for p in parts]
        fixed.pop(key, None)
    for key in sweep:
        fixed.pop(key, None)
    return fixed, sweep


def parse_goals(items: list[str] | None) -> dict[str, str]:
    """``--goal loss=min``: which way a metric is best."""
    goals = {}
    for item in items or []:
        key, _sep, goal = item.partition("=")
        if not key or goal not in ("min", "max"):
            raise InvalidRequest(f"--goal {item!r}: write it as METRIC=min or METRIC=max")
        goals[key] = goal
    return goals
