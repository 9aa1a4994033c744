"""Schedules: a job at the times of a cron expression, its unpinned datasets resolved to the
latest version at each run, paused and resumed, missed times made up once, someone else's
out of reach; `floe schedule` does the same from a project folder."""

from __future__ import annotations

import time
from datetime import timedelta

from floe.db.base import utcnow
from floe.db.models import Job, Schedule
from tests.service.helpers import floe_fast, make_dataset, until, upload_files


def add(service, token: str, **body) -> dict:
    request = {"project": "nightly", "kind": "command", "command": "echo tick", **body}
    resp = service.api("POST", "schedules", token, json=request)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_a_schedule_runs_with_the_latest_dataset_pauses_resumes_and_goes(service):
    name, token = service.user("scheduler")
    make_dataset(service, token, "notes", {"a.txt": b"one"})
    schedule = add(service, token, cron="@every 1s", datasets=["notes"], parameters={"k": 1})
    assert schedule["state"] == "active" and schedule["datasets"] == ["notes"]
    assert schedule["name"] == f"{name}/nightly/schedule/{schedule['id']}"
    path = f"schedules/{schedule['id']}"

    def jobs() -> list[dict]:
        return service.api("GET", "jobs?project=nightly", token).json()

    first = until(lambda: jobs())[-1]
    assert first["schedule"] == schedule["id"] and first["parameters"] == {"k": 1}
    assert first["datasets"][0]["source"] == f"{name}/notes:1"
    assert first["message"] == "scheduled: @every 1s"

    # A new version: the next run mounts it.
    manifest = upload_files(service, token, {"a.txt": b"two"})
    versions = f"datasets/{name}/notes/versions"
    resp = service.api("POST", versions, token, json={"manifest": manifest})
    assert resp.status_code == 201
    later = until(lambda: [j for j in jobs() if j["datasets"][0]["source"].endswith(":2")])
    assert later[0]["schedule"] == schedule["id"]
    ran = service.api("GET", path, token).json()
    assert ran["runs"] >= 2 and ran["last_job"] is not None and ran["last_error"] is None

    paused = service.api("POST", f"{path}/pause", token).json()
    assert paused["state"] == "paused" and paused["next_run"] is None
    count = len(jobs())
    time.sleep(2.5)
    assert len(jobs()) == count  # nothing while paused
    resumed = service.api("POST", f"{path}/resume", token).json()
    assert resumed["state"] == "active" and resumed["next_run"] is not None
    until(lambda: len(jobs()) > count)

    # Someone else can neither see nor change it.
    _other, other_token = service.user("nosy")
    for method, where in (("GET", path), ("DELETE", path), ("POST", f"{path}/pause")):
        assert service.api(method, where, other_token).status_code == 404
    assert service.api("GET", "schedules", other_token).json() == []

    assert service.api("DELETE", path, token).status_code == 204
    assert service.api("GET", path, token).status_code == 404
    count = len(jobs())
    time.sleep(1.5)
    assert len(jobs()) == count and count >= 3  # its jobs stay; no more come


def test_missed_times_are_made_up_once_not_once_each(service):
    _name, token = service.user("sleeper")
    # Yearly, so that no time of its own falls within the test (an hourly one did, at :00).
    schedule = add(service, token, cron="0 0 1 1 *", project="hourly")
    # As if Floe had been down for five years: five times missed.
    with service.runner.sessions() as db:
        row = db.get(Schedule, schedule["id"])
        row.next_run = utcnow() - timedelta(days=5 * 366)
        db.commit()
    until(lambda: service.api("GET", "jobs?project=hourly", token).json())
    time.sleep(1)
    assert len(service.api("GET", "jobs?project=hourly", token).json()) == 1
    after = service.api("GET", f"schedules/{schedule['id']}", token).json()
    assert after["runs"] == 1
    with service.runner.sessions() as db:
        next_run = db.get(Schedule, schedule["id"]).next_run
        assert db.query(Job).filter(Job.schedule_id == schedule["id"]).count() == 1
    assert next_run.minute == 0 and next_run.replace(tzinfo=None) > utcnow().replace(tzinfo=None)
    service.api("DELETE", f"schedules/{schedule['id']}", token)


def test_bad_schedules_are_refused(service):
    _name, token = service.user("badcron")

    def refused(status: int, words: str, **body) -> None:
        request = {"project": "bad", "kind": "command", "command": "echo", **body}
        resp = service.api("POST", "schedules", token, json=request)
        assert resp.status_code == status, resp.text
        assert words in resp.json()["error"], resp.json()

    refused(400, "cron", cron="every day")
    refused(400, "is not from 0 to 59", cron="61 * * * *")
    refused(400, "never fires", cron="0 0 30 2 *")
    refused(400, "not a time zone", cron="@daily", timezone="Mars/Olympus")
    refused(400, "is not a duration", cron="@every 0s")
    refused(400, "to its end", cron="@daily", mode="serve")
    refused(404, "no dataset", cron="@daily", datasets=["nothing-here"])
    refused(400, "cron", command="echo")  # no cron at all
    assert service.api("GET", "schedules", token).json() == []


def test_floe_schedule_add_ls_pause_resume_rm(service, tmp_path):
    _name, token = service.user("clisched")
    make_dataset(service, token, "notes", {"a.txt": b"one"})

    def floe(*args):
        return floe_fast(service, token, *args, cwd=tmp_path)

    assert floe("init", "cron").returncode == 0
    (tmp_path / "floe.yml").write_text("steps:\n  report:\n    command: echo report\n")
    added = floe("schedule", "add", "@daily", "report", "--data", "notes", "--tz", "Europe/Paris")
    assert added.returncode == 0, added.stderr
    assert "'@daily' Europe/Paris  cron: step report  next" in added.stdout
    schedule = service.api("GET", "schedules", token).json()[0]
    assert schedule["step"] == "report" and schedule["command"] == "echo report"
    assert schedule["next_run"].endswith(("T22:00:00Z", "T23:00:00Z"))  # midnight in Paris
    listed = floe("schedule", "ls")
    assert listed.returncode == 0 and "step report" in listed.stdout
    sid = str(schedule["id"])
    assert "paused" in floe("schedule", "pause", sid).stdout
    assert "next " in floe("schedule", "resume", sid).stdout
    assert floe("schedule", "rm", sid).returncode == 0
    assert "no schedules" in floe("schedule", "ls").stdout
    assert floe("schedule", "rm", sid).returncode == 2
    swept = floe("schedule", "add", "@daily", "echo", "--param", "lr=1,2")
    assert swept.returncode == 2 and "one value" in swept.stderr
