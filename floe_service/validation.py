"""A pydantic ValidationError in the words of Floe's error map: one field, one sentence."""

from __future__ import annotations

import typing

from pydantic import BaseModel, ValidationError

from floe.core.errors import InvalidRequest

_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def _choices(model: type[BaseModel], field: str) -> list[str]:
    annotation = model.model_fields[field].annotation
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return [str(a) for a in typing.get_args(arg)]
    return []


def invalid_request(err: ValidationError, model: type[BaseModel]) -> InvalidRequest:
    """The first problem of ``err`` (all unknown fields at once) as an InvalidRequest."""
    errors = err.errors(include_url=False)
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown and all(len(e["loc"]) == 1 for e in errors if e["type"] == "extra_forbidden"):
        return InvalidRequest(
            f"unknown field(s) {', '.join(unknown)}; fields: {', '.join(model.model_fields)}",
            field=unknown[0],
        )
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    field = loc[0] if loc else "body"
    where = ".".join(loc) or "the request body"
    kind, ctx = first["type"], first.get("ctx") or {}
    if kind == "literal_error" and len(loc) == 1:
        choices = _choices(model, field)
        message = f"unknown {field} {first['input']!r}; {field}s: {', '.join(choices)}"
        return InvalidRequest(message, field=field)
    if kind == "floe":
        message = first["msg"]
    elif kind == "greater_than_equal":
        message = f"must be at least {ctx['ge']}"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx['le']}"
    elif kind == "extra_forbidden":
        message = "is not a field here"
    elif kind == "too_long":
        message = f"may hold at most {ctx.get('max_length')} items"
    elif kind == "string_too_long":
        message = f"may be at most {ctx.get('max_length')} characters"
    else:
        message = _MESSAGES.get(kind, first["msg"])
    return InvalidRequest(f"{where}: {message}", field=field)
