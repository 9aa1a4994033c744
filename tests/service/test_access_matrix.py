"""The access rules, every resource against every role: a team's dataset, project (jobs,
logs, outputs, pages) and environment, tried as the team's maintainer, a plain member, someone
the thing is shared with, a stranger and an admin. A stranger always meets "not found"."""

from __future__ import annotations

import pytest

from tests.service.helpers import make_dataset, submit, until, wait_for
from tests.service.test_made_environments import built, make

ROLES = ("maintainer", "member", "grantee", "stranger", "admin")
# What each kind of action answers, role by role (in ROLES' order).
READ = (200, 200, 200, 404, 200)
WRITE = (201, 201, 403, 404, 201)
MANAGE = (200, 403, 403, 404, 200)
MEMBERS_SEE = (200, 200, 403, 404, 200)
# Deleting: a member is told who may; whoever only reads it is told there is nothing of
# theirs to change (as for a public dataset); a stranger that there is nothing.
DELETE = (200, 403, 404, 404, 200)
STOP = (200, 403, 403, 404, 200)  # the maintainer and an admin; whoever ran it is checked apart


@pytest.fixture(scope="module")
def world(service):
    names, tokens = {}, {}
    for role in ROLES:
        names[role], tokens[role] = service.user(role[:4], admin=role == "admin")
    team = service.team("lab", [names["maintainer"], names["member"]], [names["maintainer"]])
    maintainer = tokens["maintainer"]
    make_dataset(service, maintainer, "mnist", {"a.txt": b"1"}, owner=team)
    job = submit(service, maintainer, project=f"{team}/cats", kind="command", command="x")
    wait_for(service, maintainer, job)
    env = built(service, maintainer, make(service, maintainer, f"{team}/nlp", "tabulate==0.9.0"))
    assert env["state"] == "ready", env
    for kind, thing in (("datasets", "mnist"), ("projects", "cats"), ("environments", "nlp")):
        path = f"{kind}/{team}/{thing}/shares/{names['grantee']}"
        assert service.api("PUT", path, maintainer).ok
    return {"team": team, "names": names, "tokens": tokens, "job": job}


def _expect(service, world, method, path, expected, body=None):
    got = []
    for role in ROLES:
        resp = service.api(method, path, world["tokens"][role], json=body)
        got.append(resp.status_code)
        if role == "stranger":
            assert "no " in resp.json()["error"], resp.text  # told it does not exist
    assert tuple(got) == expected, (method, path, dict(zip(ROLES, got, strict=True)))


@pytest.mark.parametrize(
    "method, path, expected",
    [
        ("GET", "datasets/{team}/mnist", READ),
        ("GET", "datasets/{team}/mnist/versions/1", READ),
        ("GET", "datasets/{team}/mnist/versions/1/files/a.txt", READ),
        ("GET", "datasets/{team}/mnist/shares", MEMBERS_SEE),
        ("PUT", "datasets/{team}/mnist/shares/{grantee}", MANAGE),
        ("GET", "jobs/{job}", READ),
        ("GET", "jobs/{team}/cats/1", READ),
        ("GET", "jobs/{job}/logs", READ),
        ("GET", "jobs/{job}/output", READ),
        ("GET", "jobs/{job}/code", READ),
        ("GET", "projects/{team}/cats/shares", MEMBERS_SEE),
        ("PUT", "projects/{team}/cats/shares/{grantee}", MANAGE),
        ("GET", "environments/{team}/nlp/1", READ),
        ("GET", "environments/{team}/nlp/1/log", READ),
        ("GET", "environments/{team}/nlp/shares", MEMBERS_SEE),
        ("PUT", "environments/{team}/nlp/shares/{grantee}", MANAGE),
    ],
)
def test_each_role_reads_and_manages_what_the_rules_say(service, world, method, path, expected):
    path = path.format(
        team=world["team"], job=world["job"]["id"], grantee=world["names"]["grantee"]
    )
    _expect(service, world, method, path, expected)


def test_each_role_adds_versions_and_deletes_what_the_rules_say(service, world):
    team = world["team"]
    _expect(service, world, "POST", f"datasets/{team}/mnist/versions", WRITE, {"manifest": []})
    numbers = [
        v["number"]
        for v in service.api("GET", f"datasets/{team}/mnist", world["tokens"]["admin"]).json()[
            "versions"
        ]
    ]
    assert len(numbers) == 4  # the first, and one by each role that may write
    got = []
    for role in ROLES:
        latest = max(numbers)
        resp = service.api(
            "DELETE", f"datasets/{team}/mnist/versions/{latest}", world["tokens"][role]
        )
        got.append(resp.status_code)
        if resp.ok:
            numbers.remove(latest)
    assert tuple(got) == DELETE, dict(zip(ROLES, got, strict=True))


def test_each_role_pages_show_what_the_rules_say(service, world):
    team, job = world["team"], world["job"]
    for path in (f"datasets/{team}/mnist", f"projects/{team}/cats", f"jobs/{job['id']}"):
        got = tuple(service.page(path, world["tokens"][role]).status_code for role in ROLES)
        assert got == READ, (path, got)


def test_each_role_runs_and_stops_what_the_rules_say(service, world):
    team, tokens = world["team"], world["tokens"]
    body = {"project": f"{team}/cats", "kind": "command", "command": "x"}
    got = tuple(service.api("POST", "jobs", tokens[r], json=body).status_code for r in ROLES)
    # An admin manages a team's things but runs jobs only in teams they are in.
    assert got == (201, 201, 404, 404, 404), dict(zip(ROLES, got, strict=True))
    for job in service.api(
        "GET", "jobs", tokens["admin"], params={"project": f"{team}/cats"}
    ).json():
        wait_for(service, tokens["admin"], job)

    running = submit(
        service, tokens["member"], project=f"{team}/cats", kind="command", command="sleep"
    )
    wait_for(service, tokens["member"], running, states=("running",))
    path = f"jobs/{running['id']}/stop"
    got = []
    for role in ("grantee", "stranger"):
        got.append(service.api("POST", path, tokens[role]).status_code)
    assert got == [403, 404]
    assert service.api("POST", path, tokens["maintainer"]).ok  # a maintainer stops anyone's
    wait_for(service, tokens["member"], running)
    again = submit(
        service, tokens["maintainer"], project=f"{team}/cats", kind="command", command="sleep"
    )
    wait_for(service, tokens["maintainer"], again, states=("running",))
    assert service.api("POST", f"jobs/{again['id']}/stop", tokens["member"]).status_code == 403
    assert service.api("POST", f"jobs/{again['id']}/stop", tokens["maintainer"]).ok
    wait_for(service, tokens["maintainer"], again)

    # Deleting the job: the maintainer's (a member is told who may), no one else's.
    got = tuple(
        service.api("DELETE", f"jobs/{running['id']}", tokens[r]).status_code
        for r in ("member", "grantee", "stranger", "maintainer")
    )
    assert got == (403, 404, 404, 200)
    until(lambda: service.api("GET", f"jobs/{running['id']}", tokens["admin"]).status_code == 404)
