"""Base handlers of the floe service: hub authentication, the caller, JSON errors."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from jupyterhub.services.auth import HubOAuthenticated
from sqlalchemy.orm import Session
from tornado import web
from tornado.ioloop import IOLoop
from tornado.log import app_log

from dataset_mounter.datasets import Caller
from dataset_mounter.settings import DatasetSettings
from dataset_mounter.tree import BadTree, Tree, check_path
from floe.errors import FloeUserError


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    """Every request is a hub user's: by API token (``Authorization: token …``) or hub login."""

    @property
    def datasets(self) -> DatasetSettings:
        return self.settings["datasets"]

    def db(self) -> Session:
        if not hasattr(self, "_db"):
            self._db = self.datasets.sessions()
        return self._db

    def on_finish(self) -> None:
        if hasattr(self, "_db"):
            self._db.close()

    @property
    def caller(self) -> Caller:
        model = self.current_user
        return Caller(name=model["name"], admin=bool(model.get("admin")))


class APIHandler(BaseHandler):
    """JSON in, JSON out; user errors become ``{"error": "…"}`` with their 4xx status."""

    def prepare(self) -> None:
        if self.current_user is None:
            raise web.HTTPError(401, "log in, or send 'Authorization: token <hub API token>'")

    def get_login_url(self) -> str:
        raise web.HTTPError(401, "log in, or send 'Authorization: token <hub API token>'")

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as err:
            raise web.HTTPError(400, f"the request body is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return body

    def send(self, data: object, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    async def send_tree_file(self, tree: Tree, path: str, where: str) -> None:
        """Stream one file of ``tree`` from the blob store (``?download=1``: as an attachment)."""
        entry = tree.find(check_path(path))
        if entry is None:
            raise web.HTTPError(404, f"no file {path} in {where}")
        self.set_header("Content-Type", mimetypes.guess_type(path)[0] or "application/octet-stream")
        self.set_header("Content-Length", str(entry.size))
        if self.get_argument("download", None):
            self.set_header("Content-Disposition", f'attachment; filename="{Path(path).name}"')
        await self.stream_blob(entry.sha256)

    async def stream_blob(self, sha256: str, offset: int = 0) -> None:
        """Write blob ``sha256`` from the blob store to the response, from byte ``offset``."""
        loop = IOLoop.current()
        reader = await loop.run_in_executor(None, self.datasets.store.open, sha256)
        try:
            while offset > 0:  # S3 bodies cannot seek: read past what the caller has
                skipped = await loop.run_in_executor(None, reader.read, min(offset, 1 << 20))
                if not skipped:
                    return
                offset -= len(skipped)
            while chunk := await loop.run_in_executor(None, reader.read, 1 << 20):
                self.write(chunk)
                await self.flush()
        finally:
            reader.close()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"error": "…"}``; user errors keep their own status and fields."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any] = {"error": self._reason}
        if isinstance(error, FloeUserError):
            self.set_status(error.status)
            body = {"error": error.message, **error.extra}
        elif isinstance(error, BadTree):
            self.set_status(400)
            body = {"error": str(error)}
        elif isinstance(error, web.HTTPError) and error.log_message:
            body = {"error": error.log_message}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: type, value: BaseException | None, tb: object) -> None:
        if isinstance(value, (FloeUserError, BadTree)):
            app_log.info("%s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)
