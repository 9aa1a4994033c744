"""floe delete and floe data delete: refused while something depends on what would go (a job
mounting an output or a version, a schedule naming a dataset), refused for a running job and
for someone else; what is deleted frees the blobs nothing else names."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from sqlalchemy import update

from floe.db.base import utcnow
from floe.db.models import Blob
from tests.service.helpers import (
    assert_storage_counted,
    floe_fast,
    make_dataset,
    submit,
    upload_files,
    wait_for,
)


def age_blobs(service) -> None:
    """As if every blob had been stored a day ago (fresher ones wait for the collector)."""
    with service.runner.sessions() as db:
        db.execute(update(Blob).values(created=utcnow() - timedelta(days=1)))
        db.commit()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(service, data: bytes) -> bool:
    return service.runner.datasets.store.has(sha(data))


def test_a_job_goes_only_once_nothing_mounts_its_output(service):
    name, token = service.user("deleter")
    made = wait_for(service, token, submit(service, token, kind="command", command="write 3"))
    assert made["state"] == "complete"
    reader = submit(service, token, kind="command", command="echo", datasets=[made["output"]])
    reader = wait_for(service, token, reader)
    running = submit(service, token, kind="command", command="sleep")
    wait_for(service, token, running, states=("running",))

    refused = service.api("DELETE", f"jobs/{made['id']}", token)
    assert refused.status_code == 409 and f"job {reader['name']}" in refused.json()["error"]
    busy = service.api("DELETE", f"jobs/{running['id']}", token)
    assert busy.status_code == 409 and "stop it first" in busy.json()["error"]
    _other, other_token = service.user("stranger")
    assert service.api("DELETE", f"jobs/{reader['id']}", other_token).status_code == 404

    assert service.api("DELETE", f"jobs/{reader['id']}", token).status_code == 200
    age_blobs(service)
    output = b"w" * 3 * 1024
    assert stored(service, output)
    gone = service.api("DELETE", f"jobs/{made['id']}", token)
    assert gone.status_code == 200, gone.text
    assert gone.json()["deleted"] == made["name"] and gone.json()["freed_bytes"] >= len(output)
    assert not stored(service, output)
    assert service.api("GET", f"jobs/{made['id']}", token).status_code == 404
    assert service.api("GET", f"jobs/{made['id']}/logs", token).status_code == 404
    service.api("POST", f"jobs/{running['id']}/stop", token)
    wait_for(service, token, running)
    assert name in made["name"]


def test_a_version_goes_unless_used_and_shared_blobs_stay(service, tmp_path):
    name, token = service.user("pruner")
    make_dataset(service, token, "notes", {"same.txt": b"same", "one.txt": b"one"})
    manifest = upload_files(service, token, {"same.txt": b"same", "two.txt": b"two"})
    versions = f"datasets/{name}/notes/versions"
    assert service.api("POST", versions, token, json={"manifest": manifest}).status_code == 201
    job = wait_for(
        service, token, submit(service, token, kind="command", command="echo", datasets=["notes:1"])
    )
    refused = service.api("DELETE", f"{versions}/1", token)
    assert refused.status_code == 409 and f"job {job['name']}" in refused.json()["error"]

    age_blobs(service)
    gone = service.api("DELETE", f"{versions}/2", token)
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"deleted": f"{name}/notes:2", "versions": [2], "freed_bytes": 3}
    assert not stored(service, b"two") and stored(service, b"same") and stored(service, b"one")
    assert service.api("GET", f"{versions}/2", token).status_code == 404
    assert service.api("GET", f"{versions}/1/files/same.txt", token).content == b"same"

    # A schedule naming the dataset keeps it; so does the job.
    schedule = service.api(
        "POST",
        "schedules",
        token,
        json={
            "project": "p",
            "kind": "command",
            "command": "echo",
            "cron": "@daily",
            "datasets": ["notes"],
        },
    ).json()
    whole = service.api("DELETE", f"datasets/{name}/notes", token)
    assert whole.status_code == 409
    assert f"schedule {schedule['id']}" in whole.json()["error"]
    assert f"job {job['name']}" in whole.json()["error"]
    service.api("DELETE", f"schedules/{schedule['id']}", token)

    def floe(*args):
        return floe_fast(service, token, *args, cwd=tmp_path)

    asks = floe("delete", str(job["id"]))
    assert asks.returncode == 2 and "add --yes" in asks.stderr
    deleted = floe("delete", str(job["id"]), "--yes")
    assert deleted.returncode == 0 and f"{job['name']} deleted" in deleted.stdout, deleted.stderr
    dropped = floe("data", "delete", f"{name}/notes", "--yes")  # no hub here to ask who
    assert dropped.returncode == 0, dropped.stderr
    assert f"{name}/notes deleted (versions 1)" in dropped.stdout
    assert service.api("GET", f"datasets/{name}/notes", token).status_code == 404
    assert not stored(service, b"same") and not stored(service, b"one")
    assert floe("data", "delete", f"{name}/notes", "--yes").returncode == 2  # none left
    assert_storage_counted(service)


def test_a_refusal_names_only_what_the_deleter_may_see(service):
    """Someone else's job on a public dataset keeps it, but stays unnamed; a schedule naming
    no version holds the latest version only."""
    owner, token = service.user("sharer")
    make_dataset(service, token, "commons", {"a.txt": b"open 1"}, public=True)
    manifest = upload_files(service, token, {"a.txt": b"open 2"})
    versions = f"datasets/{owner}/commons/versions"
    assert service.api("POST", versions, token, json={"manifest": manifest}).status_code == 201
    _reader, reader_token = service.user("borrower")
    theirs = submit(
        service, reader_token, kind="command", command="echo", datasets=[f"{owner}/commons:1"]
    )
    theirs = wait_for(service, reader_token, theirs)
    refused = service.api("DELETE", f"{versions}/1", token)
    assert refused.status_code == 409
    assert "1 job(s) or schedule(s) of other people" in refused.json()["error"]
    assert theirs["name"] not in refused.json()["error"]

    schedule = service.api(
        "POST",
        "schedules",
        token,
        json={"project": "p", "kind": "command", "command": "echo", "cron": "@daily",
              "datasets": ["commons"]},
    ).json()  # fmt: skip
    latest = service.api("DELETE", f"{versions}/2", token)
    assert latest.status_code == 409 and f"schedule {schedule['id']}" in latest.json()["error"]
    assert service.api("DELETE", f"schedules/{schedule['id']}", token).status_code in (200, 204)


def test_a_job_deleted_and_submitted_again_is_a_new_job_and_its_limits_still_hold(service):
    """Issue 28: the same submit after `floe delete` got the deleted job's id and number,
    and the runner, remembering it had stopped that id already, let it run on."""
    _name, token = service.user("again")
    body = {"project": "reuse", "kind": "command", "command": "sleep", "max_runtime": 1}
    first = wait_for(service, token, submit(service, token, **body))
    assert first["reason"] == "stopped by its maximum runtime of 1 s"
    deadline = time.monotonic() + 5  # the runner lets go of a job just after its end is noted
    while first["id"] in service.runner._stopped_for_limits and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first["id"] not in service.runner._stopped_for_limits  # no memory of it outlives it
    assert service.api("DELETE", f"jobs/{first['id']}", token).status_code == 200

    again = submit(service, token, **body)
    assert again["id"] > first["id"] and again["number"] == first["number"] + 1
    assert again["name"] != first["name"]
    again = wait_for(service, token, again)
    assert (again["state"], again["reason"]) == ("stopped", first["reason"])
