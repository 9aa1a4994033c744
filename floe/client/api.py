"""A small client of the floe service's REST API: the CLI, the workspace extension and the
benchmarks all talk to Floe through it (and so can any Python program)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from floe.core.refs import JobRef, TaskRef
from floe.trees.pack import pack_bytes


class FloeError(Exception):
    """What the server (or the network) said was wrong, in words for the user."""

    def __init__(self, message: str, status: int | None = None, body: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


class _LargeBlocks(HTTPAdapter):
    """Send file bodies a MiB at a time; urllib3's 16 KiB blocks cost a syscall each."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = 1024 * 1024
        super().init_poolmanager(*args, **kwargs)


class FloeClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.api = f"{self.url}/services/floe/api/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        self.session.mount("http://", _LargeBlocks())
        self.session.mount("https://", _LargeBlocks())

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = self.session.request(method, self.api + path, timeout=600, **kwargs)
        except requests.ConnectionError:
            raise FloeError(f"could not reach Floe at {self.url}: is the hub running?") from None
        if resp.status_code == 401 or resp.status_code == 403 and "token" in resp.text.lower():
            raise FloeError(
                f"{self.url} did not accept the token ({resp.status_code}); "
                "make a new one at /hub/token and run `floe login` again",
                resp.status_code,
            )
        if resp.status_code >= 400:
            try:
                body = resp.json()
                message = body.get("error") or body.get("message") or resp.text
            except ValueError:
                body, message = {}, resp.text[:300]
            raise FloeError(message, resp.status_code, body)
        return resp

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # --- datasets ------------------------------------------------------------------

    def datasets(self) -> list[dict]:
        return self.json("GET", "datasets")

    def create_dataset(
        self, name: str, public: bool = False, description: str = "", owner: str | None = None
    ) -> dict:
        """A new dataset of yours, or of a team of yours (``owner``)."""
        body = {"name": name, "public": public, "description": description}
        if owner:
            body["owner"] = owner
        return self.json("POST", "datasets", json=body)

    def dataset(self, full_name: str) -> dict:
        return self.json("GET", f"datasets/{full_name}")

    def version(self, full_name: str, number: int) -> dict:
        return self.json("GET", f"datasets/{full_name}/versions/{number}")

    def missing_blobs(self, blobs: list[str]) -> list[str]:
        return self.json("POST", "blobs/missing", json={"blobs": blobs})["missing"]

    def put_blob(self, sha256: str, path: str) -> None:
        with open(path, "rb") as f:
            self.request("PUT", f"blobs/{sha256}", data=f)

    def put_pack(self, paths: list[str], contents: list[bytes | None] | None = None) -> None:
        """Send several small files' bytes in one request (the server hashes them); those
        ``contents`` holds are not read again."""
        self.request("POST", "blobs/pack", data=pack_bytes(paths, contents))

    def commit(self, full_name: str, manifest: list[dict], message: str) -> dict:
        body = {"manifest": manifest, "message": message}
        return self.json("POST", f"datasets/{full_name}/versions", json=body)

    def download_file(self, path: str, dest: Path, sha256: str = "") -> None:
        """Stream the file the API serves at ``path`` to ``dest`` (atomically); with
        ``sha256``, the bytes are hashed as they are written and a file whose bytes do not
        match is never put in place."""
        # A name of its own: another file of the tree may well be called "<name>.part".
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        digest = hashlib.sha256()
        try:
            with self.request("GET", path, stream=True) as resp, open(tmp, "wb") as f:
                for chunk in resp.iter_content(1 << 20):
                    digest.update(chunk)
                    f.write(chunk)
            if sha256 and digest.hexdigest() != sha256:
                raise FloeError(f"{dest} arrived damaged; run the download again")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(dest)

    # --- jobs ----------------------------------------------------------------------

    def catalog(self) -> dict:
        return self.json("GET", "catalog")

    def projects(self) -> list[dict]:
        return self.json("GET", "projects")

    def submit_job(self, body: dict) -> dict:
        return self.json("POST", "jobs", json=body)

    def jobs(self, **filters: Any) -> list[dict]:
        return self.json("GET", "jobs", params={k: v for k, v in filters.items() if v})

    def job(self, ref: str | int | JobRef) -> dict:
        return self.json("GET", job_path(ref))

    def output(self, ref: str | int | JobRef) -> dict:
        return self.json("GET", job_path(ref, "output"))

    def task(self, ref: str | int | TaskRef) -> dict:
        return self.json("GET", task_path(ref))

    def tasks(self, **filters: Any) -> list[dict]:
        return self.json("GET", "tasks", params={k: v for k, v in filters.items() if v})


def job_path(ref: str | int | JobRef, *rest: str) -> str:
    """The API path of a job (``jobs/alice/cats/3``), and of ``rest`` under it."""
    parsed = ref if isinstance(ref, JobRef) else JobRef.parse(str(ref))
    return "/".join(["jobs", quote(str(parsed), safe="/"), *rest])


def task_path(ref: str | int | TaskRef, *rest: str) -> str:
    """The API path of a task (``tasks/alice/cats/task/2``), and of ``rest`` under it."""
    parsed = ref if isinstance(ref, TaskRef) else TaskRef.parse(str(ref))
    return "/".join(["tasks", quote(str(parsed), safe="/"), *rest])


def project_choices(projects: list[dict], me: str) -> list[str]:
    """What a project field offers ``me``: my own projects by name, then my teams' as
    TEAM/NAME (projects only shared with me take no jobs of mine), from ``GET /api/projects``."""
    own = [p["name"] for p in projects if p["owner"] == me]
    teams = [p["full_name"] for p in projects if p["owner"] != me and p.get("writable")]
    return own + teams
