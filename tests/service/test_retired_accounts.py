"""A hub name deleted and made again: everything the earlier user kept is retired with them
(``floe.db.accounts``), schedules, tasks and made environments included; a schedule stops
rather than run for the newcomer, and every column that names a user is accounted for."""

from __future__ import annotations

import re
import time

import requests

from floe.db.accounts import HISTORY_COLUMNS, OWNER_COLUMNS, SCHEDULE_RETIRED
from floe.db.base import Base
from floe.db.models import Job, Schedule
from jobs.schedules import _run
from tests.service.helpers import make_dataset, submit, until, wait_for

# Column names that say a user: whose a row is, or who did something.
USER_COLUMN = re.compile(r"(.*_)?(owner|holder|user|username|grantee)|.+_by")
SERVE = {"kind": "command", "mode": "serve"}


def key(column) -> tuple[str, str]:
    return column.class_.__tablename__, column.key


def test_every_column_naming_a_user_is_retired_or_kept_as_history():
    moved = {key(c) for c in OWNER_COLUMNS}
    history = {key(c): why for c, why in HISTORY_COLUMNS}
    assert not moved & set(history), "a column both moved and kept"
    assert all(why.strip() for why in history.values()), "each kept column says why"
    naming = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if USER_COLUMN.fullmatch(column.name)
    }
    # A new table with an ``owner`` (or ``*_by``) column fails here until it is listed.
    assert naming - moved - set(history) == set()
    assert (moved | set(history)) - naming == set(), "listed columns that no longer exist"


def built_environment(service, token: str, owner: str, name: str, **body) -> dict:
    body = {"name": name, "from": "datascience", "requirements": "tabulate==0.9.0", **body}
    answer = service.api("POST", "environments", token, json=body)
    assert answer.status_code == 202, answer.text
    path = f"environments/{owner}/{name}/{answer.json()['version']}"
    return until(lambda: (e := service.api("GET", path, token).json())["state"] == "ready" and e)


def remade(service, name: str) -> tuple[str, str]:
    """The hub deletes ``name``, someone signs up as ``name``: their token, and an admin's."""
    newcomer = service.hub.remake_user(name)
    _admin, admin_token = service.user("root", admin=True)
    return newcomer, admin_token


def retired(owner: str, name: str) -> str:
    """``owner``, checked to be the name ``name``'s first user's things were retired to."""
    assert re.fullmatch(rf"{name}~[0-9]+", owner), owner
    return owner


def test_a_retired_schedule_stops_and_never_runs_as_the_newcomer(service):
    alice, token = service.user("alice")
    built_environment(service, token, alice, "nlp")
    body = {"project": "nightly", "kind": "command", "command": "echo tick", "cron": "@every 1s"}
    schedule = service.api("POST", "schedules", token, json={**body, "environment": "nlp:1"})
    assert schedule.status_code == 201, schedule.text
    path = f"schedules/{schedule.json()['id']}"
    until(lambda: service.api("GET", path, token).json()["runs"])

    newcomer, admin_token = remade(service, alice)
    assert service.api("GET", "schedules", newcomer).json() == []
    assert service.api("GET", path, newcomer).status_code == 404
    stopped = service.api("GET", path, admin_token).json()
    old = retired(stopped["owner"], alice)
    assert stopped["name"].startswith(f"{old}/nightly/")
    assert stopped["state"] == "paused" and stopped["last_error"] == SCHEDULE_RETIRED
    assert stopped["environment"] == f"{old}/nlp:1"  # the first alice's, not the next's
    time.sleep(1.5)
    assert service.api("GET", path, admin_token).json()["runs"] == stopped["runs"]
    assert service.api("GET", "jobs", newcomer).json() == []
    with service.runner.sessions() as db:
        assert not db.query(Job).filter(Job.schedule_id == stopped["id"], Job.owner == alice).all()
    # Not even an admin starts it again: it would run for nobody.
    resumed = service.api("POST", f"{path}/resume", admin_token)
    assert resumed.status_code == 409 and "account was deleted" in resumed.json()["error"]
    assert service.api("DELETE", path, admin_token).status_code == 204


def test_anothers_schedule_keeps_reading_the_retired_users_dataset_not_the_newcomers(service):
    alice, alice_token = service.user("alice")
    make_dataset(service, alice_token, "weights", {"w.txt": b"the first alice's"}, public=True)
    _bob, bob_token = service.user("bob")
    body = {"project": "nightly", "kind": "command", "command": "x", "cron": "@every 1s"}
    made = service.api(
        "POST", "schedules", bob_token, json={**body, "datasets": [f"{alice}/weights"]}
    )
    assert made.status_code == 201, made.text

    newcomer, _admin = remade(service, alice)
    make_dataset(service, newcomer, "weights", {"w.txt": b"the newcomer's"}, public=True)
    after = len(service.api("GET", "jobs?project=nightly", bob_token).json())
    jobs = until(lambda: service.api("GET", "jobs?project=nightly", bob_token).json()[after:])
    source = jobs[-1]["datasets"][0]["source"]
    assert retired(source.partition("/")[0], alice) and source.endswith("/weights:1"), source
    schedule = service.api("GET", f"schedules/{made.json()['id']}", bob_token).json()
    assert schedule["datasets"][0].startswith(f"{alice}~")


def test_a_retired_task_is_out_of_the_newcomers_reach(service):
    alice, token = service.user("alice")
    body = {"project": "sweeps", "kind": "command", "command": "x", "sweep": {"k": [1, 2]}}
    task = service.api("POST", "tasks", token, json=body)
    assert task.status_code == 201, task.text
    path = f"tasks/{task.json()['id']}"

    newcomer, admin_token = remade(service, alice)
    assert service.api("GET", "tasks", newcomer).json() == []
    assert service.api("GET", path, newcomer).status_code == 404
    assert service.api("POST", f"{path}/stop", newcomer).status_code == 404
    retired(service.api("GET", path, admin_token).json()["owner"], alice)


def test_a_retired_environment_is_not_the_newcomers_to_use(service):
    alice, token = service.user("alice")
    built_environment(service, token, alice, "nlp")
    two = built_environment(service, token, alice, "nlp", **{"from": "nlp:1"})
    assert two["base"] == f"{alice}/nlp:1"
    ran = wait_for(
        service, token, submit(service, token, kind="command", command="x", environment="nlp:2")
    )

    newcomer, admin_token = remade(service, alice)
    assert service.api("GET", f"environments/{alice}/nlp/1", newcomer).status_code == 404
    names = {e["name"] for e in service.api("GET", "environments", newcomer).json()}
    assert not {f"{alice}/nlp:1", f"{alice}/nlp:2"} & names
    job = {"project": "p", "kind": "command", "command": "x", "environment": f"{alice}/nlp:1"}
    refused = service.api("POST", "jobs", newcomer, json=job)
    assert refused.status_code == 400 and "unknown environment" in refused.json()["error"]
    # Admins see it retired, built on the first alice's own (not on the newcomer's nlp:1).
    (old_two,) = [
        e
        for e in service.api("GET", "environments", admin_token).json()
        if e["name"].endswith("/nlp:2") and e["owner"].startswith(f"{alice}~")
    ]
    old = retired(old_two["owner"], alice)
    assert old_two["base"] == f"{old}/nlp:1"
    rerun_in = service.api("GET", f"jobs/{ran['id']}", admin_token).json()["environment"]
    assert rerun_in == f"{old}/nlp:2"
    mine = built_environment(service, newcomer, alice, "nlp")
    assert mine["name"] == f"{alice}/nlp:1" and mine["base"] == "datascience"


def test_a_retired_serving_job_answers_neither_the_newcomer_nor_to_their_management(service):
    alice, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, command="serve", **SERVE), ("running",))
    made = service.api("POST", f"jobs/{job['id']}/tokens", token, json={"name": "app"})
    assert made.status_code == 201, made.text
    url = f"{service.url}{job['serve_url']}"

    # The newcomer's first request is a call of the first alice's job, with a hub token.
    newcomer, admin_token = remade(service, alice)
    called = requests.get(url, headers={"Authorization": f"Bearer {newcomer}"}, timeout=30)
    assert called.status_code in (403, 404), called.text
    tokens = f"jobs/{job['id']}/tokens"
    assert service.api("GET", tokens, newcomer).status_code == 404
    assert service.api("POST", tokens, newcomer, json={"name": "mine"}).status_code == 404
    (listed,) = service.api("GET", tokens, admin_token).json()
    revoke = service.api("DELETE", f"serving-tokens/{listed['id']}", newcomer)
    assert revoke.status_code == 404
    # Its token still calls it, at its retired name, until an admin stops it.
    moved = service.api("GET", f"jobs/{job['id']}", admin_token).json()
    assert moved["serve_url"] != job["serve_url"] and f"/{moved['owner']}/" in moved["serve_url"]
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    assert requests.get(f"{service.url}{moved['serve_url']}", headers=bearer, timeout=30).ok
    assert service.api("POST", f"jobs/{job['id']}/stop", admin_token).status_code == 202


def test_a_retired_accounts_queued_job_starts_in_its_own_environment_not_the_newcomers(service):
    alice, token = service.user("alice")
    built_environment(service, token, alice, "nlp")
    # Two serving jobs hold the two runs one user may have (conftest): the next one waits.
    serving = [
        wait_for(service, token, submit(service, token, command="serve", **SERVE), ("running",))
        for _ in range(2)
    ]
    queued = submit(service, token, kind="command", command="x", environment="nlp:1")
    assert queued["state"] == "queued" and queued["environment"] == f"{alice}/nlp:1"

    newcomer, admin_token = remade(service, alice)
    theirs = built_environment(service, newcomer, alice, "nlp", requirements="rich==13.9.4")
    assert theirs["name"] == f"{alice}/nlp:1"
    for job in serving:
        assert service.api("POST", f"jobs/{job['id']}/stop", admin_token).status_code == 202
    ran = wait_for(service, admin_token, queued)
    old = retired(ran["owner"], alice)
    assert ran["state"] == "complete" and ran["environment"] == f"{old}/nlp:1", ran
    last = ran["provenance"][-1]
    assert last["environment"] == f"{old}/nlp:1" and last["requirements"] == "tabulate==0.9.0\n"


def test_a_schedule_read_just_before_its_owner_is_retired_runs_nothing(service):
    alice, token = service.user("alice")
    body = {"project": "yearly", "kind": "command", "command": "x", "cron": "0 0 1 1 *"}
    made = service.api("POST", "schedules", token, json=body)
    assert made.status_code == 201, made.text
    with service.runner.sessions() as db:
        # As the schedules' loop holds it, due, when the newcomer's first request comes.
        schedule = db.get(Schedule, made.json()["id"])
        newcomer, admin_token = remade(service, alice)
        assert service.api("GET", "jobs", newcomer).json() == []
        assert _run(db, schedule, service.runner.job_context()) == 0
    assert service.api("GET", "jobs", newcomer).json() == []
    assert service.api("GET", "jobs?project=yearly", admin_token).json() == []
