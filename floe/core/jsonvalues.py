"""JSON that Floe can keep and give back: what users send and what jobs print as metrics.

Python's ``json`` accepts more than the database and an answer can carry: ``NaN`` and
``Infinity`` (not JSON at all), strings with a lone UTF-16 surrogate (``"\\ud800"``, no text
encoding can store it) and nesting thousands deep (answers could not be written back).
:func:`loads_keepable` refuses them with :class:`NotKeepable`.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


class NotKeepable(ValueError):
    """JSON that cannot be stored and answered as it came."""


def _no_constant(name: str) -> None:
    raise NotKeepable(f"{name} is not a JSON number")


def _check(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise NotKeepable(f"it is nested more than {MAX_DEPTH} deep")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise NotKeepable("a string holds a lone UTF-16 surrogate (\\ud800…)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def loads_keepable(text: str, *, non_finite_as_null: bool = False) -> Any:
    """``json.loads``, refusing what Floe could not keep (:class:`NotKeepable`).

    ``non_finite_as_null``: read NaN and Infinity as null instead (a diverging loss printed
    by Python's json is still a metric line, with no value to chart).
    """
    constant = (lambda _name: None) if non_finite_as_null else _no_constant
    try:
        value = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as err:
        raise NotKeepable(f"not JSON: {err}") from None
    except RecursionError:
        raise NotKeepable(f"it is nested more than {MAX_DEPTH} deep") from None
    _check(value, 0)
    return value
