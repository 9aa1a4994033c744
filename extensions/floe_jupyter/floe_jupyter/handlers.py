"""Handlers under ``/floe/`` in the user's server: what the JupyterLab buttons call.

They snapshot what the user has (the notebook as the editor shows it, its folder, /output),
send only the blobs the floe service lacks, and submit jobs with the user's hub token.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

from floe.client.api import FloeClient, FloeError, project_choices
from floe.client.transfer import download_job_tree, submit_with_code, upload_tree
from floe.core.errors import FloeUserError
from floe.core.params import parse_params
from floe.core.refs import JobRef

OUTPUT_DIR = Path(os.environ.get("FLOE_OUTPUT_DIR", "/output"))


def workspace_defaults() -> dict[str, Any]:
    """What this workspace runs on: the defaults of the Run as job dialog."""
    mounts = [m for m in os.environ.get("FLOE_DATASETS", "").split(",") if m]
    return {
        "environment": os.environ.get("FLOE_ENVIRONMENT", ""),
        "machine": os.environ.get("FLOE_MACHINE", ""),
        "datasets": mounts,
    }


class FloeHandler(APIHandler):
    def client(self) -> FloeClient:
        url = os.environ.get("FLOE_SERVICE_URL")
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not url or not token:
            raise web.HTTPError(503, "this server was not started by Floe (no FLOE_SERVICE_URL)")
        return FloeClient(url, token)

    async def respond(self, work: Callable[[], Any], status: int = 200) -> None:
        """Answer with what ``work`` returns, run off the event loop; Floe's errors become
        JSON with their own status and message."""
        try:
            result = await IOLoop.current().run_in_executor(None, work)
        except FloeError as err:
            self.set_status(err.status or 502)
            self.finish(json.dumps({"error": str(err), **err.body}))
        except FloeUserError as err:
            self.set_status(err.status)
            self.finish(json.dumps(err.body()))
        else:
            self.set_status(status)
            self.finish(json.dumps(result))

    def root_dir(self) -> Path:
        return Path(self.settings["server_root_dir"]).expanduser().resolve()

    def notebook_path(self, body: dict) -> tuple[str, Path]:
        """The notebook's name and its folder, checked to be inside the server's root."""
        path = body.get("path")
        if not isinstance(path, str) or not path.endswith(".ipynb"):
            raise web.HTTPError(400, "'path' must be the notebook's path, ending in .ipynb")
        folder = (self.root_dir() / posixpath.dirname(path)).resolve()
        if not folder.is_relative_to(self.root_dir()):
            raise web.HTTPError(400, f"{path} is outside this workspace")
        return posixpath.basename(path), folder


class ContextHandler(FloeHandler):
    @web.authenticated
    async def get(self) -> None:
        def gather() -> dict:
            client = self.client()
            return {
                **workspace_defaults(),
                "catalog": client.catalog(),
                "projects": project_choices(
                    client.projects(), os.environ.get("JUPYTERHUB_USER", "")
                ),
            }

        await self.respond(gather)


class RunHandler(FloeHandler):
    """Run as job: the notebook as the editor shows it, optionally with its folder; with a
    sweep (lines of ``NAME=A,B,C``, as ``floe run --param`` takes them), a task of jobs; with
    a cron expression, a schedule that runs it at those times."""

    @web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        name, folder = self.notebook_path(body)
        job = {
            "kind": "notebook",
            "name": name,
            "notebook": body.get("notebook"),
            **{
                k: body[k]
                for k in ("project", "environment", "machine", "datasets", "parameters", "message")
                if k in body
            },
        }
        lines = body.get("sweep") or ""
        if not isinstance(lines, str):
            raise web.HTTPError(400, "'sweep' must be lines of NAME=A,B,C")
        try:
            fixed, sweep = parse_params(
                [line.strip() for line in lines.splitlines() if line.strip()]
            )
        except FloeUserError as err:
            raise web.HTTPError(400, f"Sweep: {err.message}") from None
        endpoint = "jobs"
        if sweep or fixed:
            if not isinstance(job.get("parameters", {}), dict):
                raise web.HTTPError(400, "'parameters' must be a JSON object")
            job["parameters"] = {**job.get("parameters", {}), **fixed}
        if sweep:
            endpoint = "tasks"
            job["sweep"] = sweep
            job.update({k: body[k] for k in ("random", "parallel") if body.get(k)})
        cron = body.get("cron") or ""
        if not isinstance(cron, str):
            raise web.HTTPError(400, "'cron' must be a schedule like '0 3 * * *'")
        if cron.strip():
            if sweep:
                raise web.HTTPError(400, "Schedule: a schedule runs one job each time, no sweep")
            endpoint = "schedules"
            job["cron"] = cron.strip()

        def submit() -> dict:
            client = self.client()
            if not body.get("include_folder"):
                return client.json("POST", endpoint, json=job)
            return submit_with_code(client, folder, job, endpoint)

        await self.respond(submit, 201)


class SaveOutputHandler(FloeHandler):
    """Save output: the notebook with its outputs and the /output folder, as a snapshot job."""

    @web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        name, _folder = self.notebook_path(body)
        job = {
            "kind": "snapshot",
            "name": name,
            "notebook": body.get("notebook"),
            "project": body.get("project"),
            "message": body.get("message", ""),
            **workspace_defaults(),
        }

        def save() -> dict:
            client = self.client()
            if not OUTPUT_DIR.is_dir():
                return client.submit_job(job)
            return upload_tree(
                client,
                OUTPUT_DIR,
                lambda manifest: client.submit_job({**job, "output": manifest}),
                max_bytes=None,
                allow_empty=True,
            )

        await self.respond(save, 201)


class JobsHandler(FloeHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.respond(lambda: self.client().jobs(limit=20))


class OpenOutputHandler(FloeHandler):
    """Copy a job's output into the workspace, under outputs/<project>-<N>/."""

    @web.authenticated
    async def post(self) -> None:
        try:
            job = JobRef.parse((self.get_json_body() or {}).get("job"))
        except FloeUserError as err:
            raise web.HTTPError(400, f"'job': {err.message}") from None
        if job.project is None:
            raise web.HTTPError(400, "'job' must be a job's name like alice/cats/3")
        # Into the home volume (work/) when there is one, so the copy outlives the container.
        persistent = "work/" if (self.root_dir() / "work").is_dir() else ""
        rel = f"{persistent}outputs/{job.project}-{job.number}"

        def fetch() -> dict:
            output = download_job_tree(self.client(), job, self.root_dir() / rel)
            return {"path": rel, "file_count": output["file_count"]}

        await self.respond(fetch)


def setup_handlers(server_app: Any) -> None:
    web_app = server_app.web_app
    base = url_path_join(web_app.settings["base_url"], "floe")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "context"), ContextHandler),
            (url_path_join(base, "run"), RunHandler),
            (url_path_join(base, "save"), SaveOutputHandler),
            (url_path_join(base, "jobs"), JobsHandler),
            (url_path_join(base, "open-output"), OpenOutputHandler),
        ],
    )
