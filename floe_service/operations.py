"""How an API endpoint declares itself: its path template and, per method, an :class:`Operation`.

A route is written once, as an OpenAPI path template (``/datasets/{owner}/{name}``); tornado's
pattern is made from it, and the OpenAPI document (``openapi.py``) reads the same routes and
the operations their handlers declare with :func:`operation`. Path parameters are declared
here, once, with the pattern tornado matches and the schema the document gives them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from floe.core.refs import JOB_PATTERN, MAX_NUMBER, NAME_PATTERN, OWNER_PATTERN, TASK_PATTERN
from floe.trees.tree import PATH_MAX_CHARS, PATH_PATTERN


@dataclass(frozen=True)
class PathParam:
    pattern: str  # what tornado matches (a regex group is made of it)
    schema: dict[str, Any]
    description: str


def _text(pattern: str, **schema: Any) -> dict[str, Any]:
    """A string parameter's schema: ``pattern`` (a whole string) is what its handler takes."""
    return {"type": "string", "pattern": f"^(?:{pattern})$", **schema}


NUMBER = {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}
PATH_PARAMS = {
    "owner": PathParam(r"[^/]+", _text(OWNER_PATTERN), "the owner's hub user name"),
    "name": PathParam(
        r"[^/]+", _text(NAME_PATTERN), "the dataset's, project's or environment's name"
    ),
    "grantee": PathParam(r"[^/]+", _text(OWNER_PATTERN), "the user or team it is shared with"),
    "team": PathParam(r"[^/]+", _text(OWNER_PATTERN), "the team's name (a hub group)"),
    "user": PathParam(r"[^/]+", _text(OWNER_PATTERN), "a hub user's name"),
    "number": PathParam(r"[^/]+", NUMBER, "the version's number"),
    # A task's id, owner/project/task/N or project/task/N (or one segment, percent-encoded).
    "task": PathParam(
        r"\d+|[^/]+|[^/]+/task/\d+|[^/]+/[^/]+/task/\d+",
        _text(TASK_PATTERN),
        "the task's id, or its name: owner/project/task/N or project/task/N",
    ),
    "schedule_id": PathParam(r"\d{1,18}", NUMBER, "the schedule's id"),
    "token_id": PathParam(r"\d{1,18}", NUMBER, "the token's id"),
    "path": PathParam(
        r".+", _text(PATH_PATTERN, maxLength=PATH_MAX_CHARS), "a file's path in the tree"
    ),
    "sha256": PathParam(r"[0-9a-f]{64}", _text("[0-9a-f]{64}"), "a blob's sha256"),
    # A job's container (<instance>-job-<id>), as a node's volume plugin names it.
    "container": PathParam(
        r"[a-z0-9][a-z0-9_.-]{0,100}-job-[0-9]{1,18}",
        _text(r"[a-z0-9][a-z0-9_.-]{0,100}-job-[0-9]{1,18}"),
        "a job's container name",
    ),
    "digest": PathParam(r"[0-9a-f]{64}", _text("[0-9a-f]{64}"), "a tree's content id"),
    # A job's id, owner/project/N, project/N or FloydHub's owner/projects/project/N; one
    # segment too, so a client may send the slashes percent-encoded.
    "job": PathParam(
        r"\d+|[^/]+|[^/]+/\d+|[^/]+/[^/]+/\d+|[^/]+/projects/[^/]+/\d+",
        _text(JOB_PATTERN),
        "the job's id, or its name: owner/project/N or project/N",
    ),
}
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    """What one method of an endpoint takes and answers, for checking and for the document."""

    summary: str
    ok: int = 200
    ok_too: tuple[int, ...] = ()  # other success statuses, answering the same shape
    response: Any = None  # a model, list[model], or None with ``content`` for bytes and text
    content: str = "application/json"
    body: Any = None  # a model of the JSON body
    raw_body: bool = False  # the body is bytes (application/octet-stream)
    query: Any = None  # a model of the query string
    errors: tuple[int, ...] = (400, 404)


def operation(summary: str, **kwargs: Any) -> Any:
    """Declare a handler method as an API operation (see :class:`Operation`)."""

    def mark(method: Any) -> Any:
        method.operation = Operation(summary, **kwargs)
        return method

    return mark


@dataclass(frozen=True)
class Route:
    template: str  # OpenAPI's path template under the API's prefix, e.g. /jobs/{job}/logs
    handler: type

    def params(self) -> list[str]:
        return _PARAM.findall(self.template)

    def tornado(self, prefix: str) -> tuple[str, type]:
        pattern = _PARAM.sub(lambda m: f"({PATH_PARAMS[m.group(1)].pattern})", self.template)
        return prefix.rstrip("/") + pattern, self.handler

    def operations(self) -> dict[str, Operation]:
        found = {}
        for method in ("get", "post", "put", "delete"):
            op = getattr(getattr(self.handler, method, None), "operation", None)
            if op is not None:
                found[method] = op
        return found
