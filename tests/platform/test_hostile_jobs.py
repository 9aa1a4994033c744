"""Hostile jobs on the default single-machine Floe (a local blob store, SQLite), as issue 28
found them: a job cannot change a blob other trees share, and ``floe-admin check-store``
proves every blob is what its name says, finds one that is not, names what it belongs to and
moves it aside so the next upload stores it again; a job deleted and submitted again is a new
job whose limits hold."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid

import pytest

from tests.floe_cli import floe, floe_admin
from tests.hub_process import HubProcess

pytestmark = pytest.mark.integration

JOB_TIMEOUT = 180


@pytest.fixture(scope="module")
def local_hub(tmp_path_factory):
    hub = HubProcess(
        instance=f"floestore-{uuid.uuid4().hex[:6]}",
        data_dir=tmp_path_factory.mktemp("floe-local-store"),
        admin_password=secrets.token_urlsafe(16),
    )
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()
        hub.remove_docker_objects()


def user(hub: HubProcess) -> tuple[str, str]:
    name = f"u{uuid.uuid4().hex[:6]}"
    assert hub.api("POST", f"/users/{name}").status_code == 201
    return name, hub.api("POST", f"/users/{name}/tokens", json={"note": "t"}).json()["token"]


def run_job(hub: HubProcess, token: str, command: str, **body: object) -> dict:
    body = {"project": "store", "kind": "command", "command": command, **body}
    made = hub.floe("POST", "jobs", token, json=body)
    assert made.status_code == 201, made.text
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        job = hub.floe("GET", f"jobs/{made.json()['id']}", token).json()
        if job["state"] in ("complete", "error", "stopped"):
            return job
        time.sleep(0.3)
    raise TimeoutError(f"job {made.json()['name']} still {job['state']}")


def test_a_job_that_links_its_log_into_output_cannot_change_the_blob_it_became(local_hub):
    _name, token = user(local_hub)
    job = run_job(
        local_hub,
        token,
        "head -c 4101 /dev/urandom > /known.bin; cat /known.bin > /floe-job/log; "
        "ln /floe-job/log /floe-job/output/x; ln -s /nope /output/zz; echo done",
    )
    assert job["state"] == "complete", job
    log = local_hub.floe("GET", f"jobs/{job['id']}/logs", token).text
    assert "not kept from /output: zz" in log  # Floe's note went to the log after keeping x
    listing = local_hub.floe("GET", f"jobs/{job['id']}/output", token).json()
    entry = next(f for f in listing["files"] if f["path"] == "x")
    got = local_hub.floe("GET", f"jobs/{job['id']}/output/files/x", token)
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).hexdigest() == entry["sha256"]
    assert len(got.content) == entry["size"] and "not kept" not in got.text

    checked = floe_admin(local_hub, "check-store")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 damaged, 0 changeable" in checked.stdout
    blobs = local_hub.data_dir / "blobs" / "sha256"
    for path in blobs.rglob("*"):
        if path.is_file():
            info = path.stat()
            assert (info.st_uid, info.st_mode & 0o777) == (os.getuid(), 0o444), path
            sha = path.parent.name + path.name
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, path


def test_check_store_names_a_damaged_blob_and_the_next_upload_stores_it_again(local_hub, tmp_path):
    name, token = user(local_hub)
    folder = tmp_path / "photos"
    folder.mkdir()
    big = secrets.token_bytes(300_000)  # a blob file of its own, not a small one
    (folder / "big.bin").write_bytes(big)
    assert floe(local_hub, token, "data", "init", "photos", cwd=folder).returncode == 0
    sent = floe(local_hub, token, "data", "upload", cwd=folder)
    assert sent.returncode == 0, sent.stderr
    sha = hashlib.sha256(big).hexdigest()
    blob = local_hub.data_dir / "blobs" / "sha256" / sha[:2] / sha[2:]
    os.chmod(blob, 0o644)  # a disk fault, say
    with open(blob, "r+b") as damaged:
        damaged.write(b"\0\0\0")

    found = floe_admin(local_hub, "check-store")
    assert found.returncode == 3, found.stdout + found.stderr
    assert f"DAMAGED {sha}" in found.stdout and f"named by dataset {name}/photos:1" in found.stdout
    assert "1 damaged" in found.stdout and "--move-aside" in found.stdout
    assert floe_admin(local_hub, "check-store", "--sample", "0").returncode == 1
    sampled = floe_admin(local_hub, "check-store", "--sample", "1")
    assert "1 blobs" in sampled.stdout

    moved = floe_admin(local_hub, "check-store", "--move-aside")
    assert moved.returncode == 0 and "moved aside to" in moved.stdout, moved.stdout
    assert not blob.exists() and list((local_hub.data_dir / "blobs" / "damaged").iterdir())
    assert floe_admin(local_hub, "check-store").returncode == 0

    # The bytes are missing now, so the next upload of them (any dataset) stores them again.
    again = tmp_path / "again"
    again.mkdir()
    (again / "same.bin").write_bytes(big)
    assert floe(local_hub, token, "data", "init", "copy", cwd=again).returncode == 0
    assert floe(local_hub, token, "data", "upload", cwd=again).returncode == 0
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    fetched = floe(local_hub, token, "data", "download", "photos:1", str(tmp_path / "d"))
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "d" / "big.bin").read_bytes() == big
    assert floe_admin(local_hub, "check-store").returncode == 0


def test_a_job_deleted_and_submitted_again_is_a_new_job_whose_runtime_cap_holds(local_hub):
    _name, token = user(local_hub)
    body = {"project": "reuse", "max_runtime": 3}
    first = run_job(local_hub, token, "sleep 60", **body)
    assert first["state"] == "stopped" and "maximum runtime" in first["reason"], first
    assert local_hub.floe("DELETE", f"jobs/{first['id']}", token).status_code == 200

    started = time.monotonic()
    again = run_job(local_hub, token, "sleep 60", **body)
    assert again["id"] > first["id"] and again["number"] == first["number"] + 1
    assert again["state"] == "stopped" and "maximum runtime" in again["reason"], again
    assert time.monotonic() - started < 45  # stopped near its 3 s, not after its 60
