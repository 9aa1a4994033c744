"""Teams on the real hub: a group made through the hub's REST API is a team; its dataset,
uploaded by one member, is mounted by another in a job; a stranger meets "not found"; a member
the hub removes loses access within the directory's refresh (well under a minute)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.floe_cli import floe
from tests.platform.test_jobs import submit, wait_for

pytestmark = pytest.mark.integration

# The service reads the hub's groups every c.TeamDirectory.refresh_seconds (20 s by default).
REMOVAL_SEEN_WITHIN_S = 60


def make_team(hub, members: list[str]) -> str:
    name = f"lab{uuid.uuid4().hex[:5]}"
    resp = hub.api("POST", f"/groups/{name}", json={"users": members})
    assert resp.status_code == 201, resp.text
    return name


def test_a_team_and_a_user_never_share_a_name(hub, user_token):
    alice, _ = user_token("alice")
    resp = hub.api("POST", f"/groups/{alice}")
    assert resp.status_code == 400
    assert f"'{alice}' is a user's name" in resp.json()["message"]
    resp = hub.api("POST", "/groups", json={"groups": [f"ok{uuid.uuid4().hex[:4]}", alice]})
    assert resp.status_code == 400, resp.text
    team = make_team(hub, [alice])
    try:
        resp = hub.api("POST", f"/users/{team}")
        assert resp.status_code == 400
        assert f"'{team}' is a team's name" in resp.json()["message"]
        resp = hub.api("POST", "/users", json={"usernames": [team]})
        assert resp.status_code == 400
        assert hub.api("GET", f"/users/{team}").status_code == 404, "nothing half-made"
        resp = hub.api("POST", "/groups/a:b")
        assert resp.status_code == 400 and "cannot name a team" in resp.json()["message"]
    finally:
        hub.api("DELETE", f"/groups/{team}")


def test_a_team_dataset_is_uploaded_by_one_member_and_mounted_by_another(
    hub, user_token, tmp_path: Path
):
    alice, alice_token = user_token("alice")
    bob, bob_token = user_token("bob")
    _mallory, mallory_token = user_token("mallory")
    team = make_team(hub, [alice, bob])
    try:
        folder = tmp_path / "mnist"
        folder.mkdir()
        (folder / "digits.txt").write_text("0123456789\n")
        made = floe(hub, alice_token, "data", "init", f"{team}/mnist", cwd=folder)
        assert made.returncode == 0, made.stderr
        sent = floe(hub, alice_token, "data", "upload", cwd=folder)
        assert sent.returncode == 0, sent.stderr

        dataset = hub.floe("GET", f"datasets/{team}/mnist", bob_token)
        assert dataset.status_code == 200, dataset.text
        job = submit(
            hub,
            bob_token,
            project=f"{team}/cats",
            kind="command",
            command="cat /input/mnist/digits.txt",
            datasets=[f"{team}/mnist:1:/input/mnist"],
        )
        assert job["name"] == f"{team}/cats/1"
        assert job["submitted_by"] == bob
        job = wait_for(hub, bob_token, job)
        assert job["state"] == "complete", job
        assert "0123456789" in hub.floe("GET", f"jobs/{job['id']}/logs", alice_token).text

        # A stranger is told none of it exists.
        for path in (
            f"datasets/{team}/mnist",
            f"datasets/{team}/mnist/versions/1",
            f"jobs/{job['id']}",
            f"jobs/{team}/cats/1",
            f"jobs/{job['id']}/logs",
        ):
            resp = hub.floe("GET", path, mallory_token)
            assert resp.status_code == 404, (path, resp.text)
        listed = hub.floe("GET", "jobs", mallory_token).json()
        assert all(j["owner"] != team for j in listed)

        # The hub removes bob from the group: within a minute he reads nothing of the team's,
        # and nothing of the team's is lost.
        resp = hub.api("DELETE", f"/groups/{team}/users", json={"users": [bob]})
        assert resp.status_code == 200, resp.text
        removed = time.monotonic()
        while hub.floe("GET", f"datasets/{team}/mnist", bob_token).status_code != 404:
            assert time.monotonic() - removed < REMOVAL_SEEN_WITHIN_S, "still reads the team's"
            time.sleep(1)
        assert hub.floe("GET", f"jobs/{job['id']}", bob_token).status_code == 404
        assert hub.floe("GET", f"jobs/{job['id']}", alice_token).json()["state"] == "complete"
        assert hub.floe("GET", f"datasets/{team}/mnist/versions/1", alice_token).status_code == 200
    finally:
        hub.api("DELETE", f"/groups/{team}")


def test_sharing_and_maintainers_from_the_command_line(hub, user_token, tmp_path: Path):
    alice, alice_token = user_token("alice")
    bob, bob_token = user_token("bob")
    team = make_team(hub, [alice, bob])
    try:
        folder = tmp_path / "letters"
        folder.mkdir()
        (folder / "a.txt").write_text("a\n")
        for args in (("data", "init", "letters"), ("data", "upload")):
            done = floe(hub, alice_token, *args, cwd=folder)
            assert done.returncode == 0, done.stderr
        assert hub.floe("GET", f"datasets/{alice}/letters", bob_token).status_code == 404

        shared = floe(hub, alice_token, "data", "share", "letters", bob)
        assert shared.returncode == 0, shared.stderr
        assert f"{alice}/letters is shared with user {bob}, read-only" in shared.stdout
        assert hub.floe("GET", f"datasets/{alice}/letters/versions/1", bob_token).ok
        listed = floe(hub, alice_token, "data", "shares", "letters", "--json")
        assert [s["grantee"] for s in json.loads(listed.stdout)] == [bob]
        refused = floe(hub, bob_token, "data", "share", f"{alice}/letters", "nobody-x")
        assert refused.returncode == 2 and "maintainers" in refused.stderr
        nobody = floe(hub, alice_token, "data", "share", "letters", "nobody-x")
        assert nobody.returncode == 2 and "no user or team named nobody-x" in nobody.stderr
        assert floe(hub, alice_token, "data", "unshare", "letters", bob).returncode == 0
        assert hub.floe("GET", f"datasets/{alice}/letters", bob_token).status_code == 404

        # Maintainers live in the hub group's properties: named there, or by a maintainer.
        resp = hub.api("PUT", f"/groups/{team}/properties", json={"maintainers": [alice]})
        assert resp.status_code == 200, resp.text
        # The service reads the groups every c.TeamDirectory.refresh_seconds (or at once, at
        # most every min_refresh_seconds, when a caller seems not to maintain a team).
        deadline = time.monotonic() + 30
        while (added := floe(hub, alice_token, "team", "add-maintainer", team, bob)).returncode:
            assert time.monotonic() < deadline, added.stderr
            time.sleep(1)
        group = hub.api("GET", f"/groups/{team}").json()
        assert sorted(group["properties"]["maintainers"]) == sorted([alice, bob])
        shown = floe(hub, bob_token, "team", "show", team)
        assert shown.returncode == 0, shown.stderr
        assert f"team {team}" in shown.stdout and "maintainers" in shown.stdout
        refused = floe(hub, bob_token, "team", "set", team, "max_gpus=1")
        assert refused.returncode == 2 and "only an admin" in refused.stderr
    finally:
        hub.api("DELETE", f"/groups/{team}")
