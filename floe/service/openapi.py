"""The OpenAPI document of the floe service's REST API, served at ``api/openapi.json``."""

from __future__ import annotations

from .handlers import APIHandler

_ERROR = {
    "description": "what was wrong",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _op(
    summary: str, ok: str = "200", body: str | None = None, errors: tuple[str, ...] = ("400", "404")
) -> dict:
    op: dict = {"summary": summary, "responses": {ok: {"description": "success"}}}
    for code in errors:
        op["responses"][code] = _ERROR
    if body:
        op["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}
        }
    return op


DOCUMENT = {
    "openapi": "3.0.3",
    "info": {
        "title": "Floe service API",
        "version": "1",
        "description": "Datasets as versioned, content-addressed trees; jobs that run "
        "notebooks and commands on them. Authenticate with "
        "'Authorization: token <JupyterHub API token>'. "
        'Errors are {"error": "…"} with a 4xx status.',
    },
    "components": {
        "securitySchemes": {
            "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
        },
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            },
            "NewDataset": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$"},
                    "public": {"type": "boolean", "default": False},
                    "description": {"type": "string"},
                },
            },
            "FileEntry": {
                "type": "object",
                "required": ["path", "sha256", "size"],
                "properties": {
                    "path": {"type": "string", "description": "relative POSIX path, no '..'"},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "size": {"type": "integer", "minimum": 0},
                    "mode": {"type": "integer"},
                },
            },
            "NewVersion": {
                "type": "object",
                "required": ["manifest"],
                "properties": {
                    "manifest": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/FileEntry"},
                    },
                    "message": {"type": "string"},
                },
            },
            "NewJob": {
                "type": "object",
                "required": ["project"],
                "description": "A notebook job sends 'notebook' (nbformat 4 JSON) and 'name'; a "
                "command job sends 'command' and optionally 'code' (a manifest whose blobs were "
                "uploaded first); a snapshot sends 'notebook' and 'output' (a manifest). "
                "Errors name the bad field in 'field'.",
                "properties": {
                    "project": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$"},
                    "kind": {"type": "string", "enum": ["notebook", "command", "snapshot"]},
                    "name": {"type": "string", "description": "the notebook's file name"},
                    "notebook": {"type": "object"},
                    "command": {"type": "string"},
                    "code": {"type": "array", "items": {"$ref": "#/components/schemas/FileEntry"}},
                    "output": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/FileEntry"},
                    },
                    "environment": {"type": "string"},
                    "machine": {"type": "string"},
                    "datasets": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "'mnist:1', 'bob/cats:2:/input/pets', "
                        "'alice/cats/3/output:/input/prev'",
                    },
                    "parameters": {"type": "object"},
                    "message": {"type": "string"},
                },
            },
            "Rerun": {
                "type": "object",
                "properties": {
                    "environment": {"type": "string"},
                    "machine": {"type": "string"},
                    "datasets": {"type": "array", "items": {"type": "string"}},
                    "parameters": {"type": "object"},
                    "message": {"type": "string"},
                },
            },
            "BlobList": {
                "type": "object",
                "required": ["blobs"],
                "properties": {"blobs": {"type": "array", "items": {"type": "string"}}},
            },
        },
    },
    "security": [{"hubToken": []}],
    "paths": {
        "/datasets": {
            "get": _op("Datasets you can read", errors=()),
            "post": _op("Create a dataset", "201", "NewDataset", ("400", "409")),
        },
        "/datasets/{owner}/{name}": {"get": _op("A dataset and its versions")},
        "/datasets/{owner}/{name}/versions": {
            "post": _op(
                "Commit the next version from a manifest; "
                "409 with 'missing' lists blobs to send first",
                "201",
                "NewVersion",
                ("400", "403", "404", "409"),
            )
        },
        "/datasets/{owner}/{name}/versions/{number}": {"get": _op("A version and its files")},
        "/datasets/{owner}/{name}/versions/{number}/files/{path}": {"get": _op("One file's bytes")},
        "/blobs/missing": {"post": _op("Which of these blobs the server lacks", body="BlobList")},
        "/blobs/{sha256}": {
            "put": _op("Upload one blob (raw bytes, checked against its sha256)", "201")
        },
        "/blobs/pack": {
            "post": _op("Upload many small blobs at once: repeated '<size>\\n' + bytes", "201")
        },
        "/blobs/stats": {"get": _op("Blob bytes received since start (admins)", errors=("403",))},
        "/jobs": {
            "get": _op("Your jobs, newest first; ?project=&state=&limit=", errors=("400",)),
            "post": _op(
                "Submit a job; 409 with 'missing' lists code blobs to send first",
                "201",
                "NewJob",
                ("400", "404", "409", "503"),
            ),
        },
        "/jobs/{job}": {"get": _op("A job (id or owner/project/N) with its state history")},
        "/jobs/{job}/stop": {"post": _op("Stop a job", "202")},
        "/jobs/{job}/rerun": {
            "post": _op("Run again with the same code and inputs, changes applied", "201", "Rerun")
        },
        "/jobs/{job}/logs": {
            "get": _op("The log as text; ?follow=1 streams it until the job ends; ?offset=N")
        },
        "/jobs/{job}/metrics": {"get": _op("Metric lines with their times, and the last values")},
        "/jobs/{job}/output": {"get": _op("The output tree", errors=("404", "409"))},
        "/jobs/{job}/output/files/{path}": {"get": _op("One output file's bytes")},
        "/projects": {"get": _op("Your projects", errors=())},
        "/catalog": {"get": _op("Environments, machine types and free GPUs", errors=())},
    },
}


class OpenAPIHandler(APIHandler):
    def prepare(self) -> None:
        pass  # the API's description is public

    def get(self) -> None:
        self.send(DOCUMENT)
