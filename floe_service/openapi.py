"""The OpenAPI document of the REST API, generated from the routes and the models they declare.

Nothing here is written by hand but the title: paths and their parameters come from the route
templates (``operations.PATH_PARAMS``), bodies, query strings and answers from the pydantic
models in ``schemas``, which are also what checks requests and writes answers.
"""

from __future__ import annotations

import typing
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas
from .handlers import APIHandler
from .operations import PATH_PARAMS, Operation, Route

REF = "#/components/schemas/{model}"
DESCRIPTION = (
    "Datasets as versioned, content-addressed trees; jobs that run notebooks and commands on "
    "them. Authenticate with 'Authorization: token <JupyterHub API token>'. Errors are "
    '{"error": "…"} with a 4xx status, and name the request field they are about in "field".'
)


def _model_of(shape: Any) -> type[BaseModel] | None:
    """The model in ``Model`` or ``list[Model]``."""
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return shape
    args = typing.get_args(shape)
    return args[0] if args and isinstance(args[0], type) else None


def _schema_of(shape: Any, refs: dict) -> dict:
    ref = refs[(_model_of(shape), "serialization")]
    return {"type": "array", "items": ref} if typing.get_origin(shape) is list else ref


def _content(media: str, schema: dict) -> dict:
    return {"content": {media: {"schema": schema}}}


def _operation(route: Route, op: Operation, refs: dict) -> dict:
    doc: dict[str, Any] = {"summary": op.summary, "responses": {}}
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMS[name].schema,
            **(
                {"description": PATH_PARAMS[name].description}
                if PATH_PARAMS[name].description
                else {}
            ),
        }
        for name in route.params()
    ]
    if op.query is not None:
        properties = op.query.model_json_schema()["properties"]
        params += [
            {"name": name, "in": "query", "required": False, "schema": properties[name]}
            for name in op.query.model_fields
        ]
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            **_content("application/json", refs[(op.body, "validation")]),
        }
    elif op.raw_body:
        # Bytes, none at all too: the empty blob, a pack of no blobs.
        binary = {"type": "string", "format": "binary"}
        doc["requestBody"] = {"required": False, **_content("application/octet-stream", binary)}
    ok: dict[str, Any] = {"description": "success"}
    if op.response is not None:
        ok.update(_content("application/json", _schema_of(op.response, refs)))
    elif op.ok == 204:
        pass  # no content
    else:
        ok.update(_content(op.content, {"type": "string"}))
    for code in (op.ok, *op.ok_too):
        doc["responses"][str(code)] = ok
    error = _content("application/json", refs[(schemas.Error, "serialization")])
    codes = {*op.errors, 401, *((413,) if op.body is not None or op.raw_body else ())}
    if route.params():
        codes.add(404)  # a path parameter its route does not take: no such resource
    for code in sorted(codes):
        doc["responses"][str(code)] = {"description": "what was wrong", **error}
    return doc


@cache
def document(routes: tuple[Route, ...], api_prefix: str = "/services/floe/api/") -> dict:
    """The whole document for ``routes`` served under ``api_prefix`` (made once per process)."""
    wanted = {(schemas.Error, "serialization")}
    for route in routes:
        for op in route.operations().values():
            if op.body is not None:
                wanted.add((op.body, "validation"))
            if op.response is not None:
                wanted.add((_model_of(op.response), "serialization"))
    refs, components = models_json_schema(
        sorted(wanted, key=lambda w: (w[0].__name__, w[1])), ref_template=REF
    )
    paths: dict[str, dict] = {}
    for route in routes:
        for method, op in route.operations().items():
            paths.setdefault(route.template, {})[method] = _operation(route, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Floe service API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": api_prefix.rstrip("/")}],
        "components": {
            "schemas": components.get("$defs", {}),
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"hubToken": []}],
        "paths": paths,
    }


class OpenAPIHandler(APIHandler):
    def authenticate(self) -> None:
        pass  # the API's description is public

    def get(self) -> None:
        self.send(document(tuple(self.settings["api_routes"]), self.prefix + "api/"))
