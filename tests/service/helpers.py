"""What several fast-tier tests do: send blobs, commit a dataset version, submit a job."""

from __future__ import annotations

import hashlib
import subprocess
import time
from types import SimpleNamespace

from floe.core.job_states import FINISHED
from tests.floe_cli import floe
from tests.notebooks import notebook


def upload_files(service, token: str, files: dict[str, bytes]) -> list[dict]:
    """Send each file's bytes as a blob; the manifest that names them."""
    manifest = []
    for path, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        resp = service.api("PUT", f"blobs/{sha}", token, data=data)
        assert resp.status_code == 201, resp.text
        manifest.append({"path": path, "sha256": sha, "size": len(data)})
    return manifest


def make_dataset(service, token: str, name: str, files: dict[str, bytes], **kwargs) -> dict:
    resp = service.api("POST", "datasets", token, json={"name": name, **kwargs})
    assert resp.status_code == 201, resp.text
    owner = resp.json()["owner"]
    manifest = upload_files(service, token, files)
    resp = service.api(
        "POST", f"datasets/{owner}/{name}/versions", token, json={"manifest": manifest}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def submit(service, token: str, **body) -> dict:
    body = {"project": "cats", **body}
    if body.get("kind") in (None, "notebook", "snapshot") and "notebook" not in body:
        body["notebook"] = notebook("print('hi')")
    resp = service.api("POST", "jobs", token, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def wait_for(service, token: str, job: dict, states=FINISHED) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        model = service.api("GET", f"jobs/{job['id']}", token).json()
        if model["state"] in states:
            return model
        time.sleep(0.02)
    raise TimeoutError(f"{job['name']} never reached {states}: {model}")


def floe_fast(service, token: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    """The installed ``floe`` command against the in-process service (no hub: verbs that ask
    the hub who you are do not work here)."""
    return floe(SimpleNamespace(url=service.url), token, *args, cwd=cwd)


def assert_storage_counted(service) -> None:
    """Each holder's bytes as counted when blobs came and went equal a sum made afresh."""
    from sqlalchemy import select

    from dataset_mounter.keep import count_storage_used, storage_used
    from floe.db.models import BlobHolder, StorageUse

    with service.runner.sessions() as db:
        holders = set(db.scalars(select(BlobHolder.holder))) | set(
            db.scalars(select(StorageUse.holder))
        )
        counted = {h: storage_used(db, h) for h in holders}
        assert counted == {h: count_storage_used(db, h) for h in holders}


ODD_OUTPUT_NOTES = (
    "[floe] not kept from /output: absolute-link (is a link to /etc/passwd, outside",
    "dangling (is a link to nothing)",
    "folder-link (is a link to a folder",
    "back\\slash (paths may not contain NUL or backslashes)",
    "is more than 128 folders deep",
)


def assert_odd_output_kept(service, token: str, job: dict) -> None:
    """What the fake backend's "odd output" job leaves is kept as Floe keeps any /output: the
    plain files; the rest listed in the log."""
    assert job["state"] == "complete", job["reason"]
    files = service.api("GET", f"jobs/{job['id']}/output", token).json()["files"]
    assert [f["path"] for f in files] == ["esc\x1b[2Jape", "good.txt"]
    log = service.api("GET", f"jobs/{job['id']}/logs", token).text
    for fragment in ODD_OUTPUT_NOTES:
        assert fragment in log, fragment


def assert_swapped_folder_read_nothing_of_the_node(
    service, token: str, job: dict, on_its_node: bool = False
) -> None:
    """What the fake backend's "root swap" job did is refused: nothing behind the link kept
    or shown, the fifo never waited on, the log saying why /output was not kept (and, where
    the service itself found it, the job's reason: a node sends an empty /output)."""
    from jobs.job_folder import OUTPUT_REPLACED
    from tests.service.fake_backend import NODE_SECRET

    if on_its_node:
        assert job["state"] == "complete", job["reason"]
    else:
        assert job["state"] == "error" and "replaced its folder" in job["reason"], job["reason"]
    log = service.api("GET", f"jobs/{job['id']}/logs", token).text
    assert OUTPUT_REPLACED in log and NODE_SECRET not in log
    output = service.api("GET", f"jobs/{job['id']}/output", token)
    assert output.status_code in (404, 409) or output.json()["files"] == [], output.text
    assert NODE_SECRET not in output.text


def until(check, timeout: float = 30):
    """What ``check()`` gives once it is true, asked every 50 ms (an assertion after
    ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)
    return found
