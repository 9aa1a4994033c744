"""Sharing a thing of one's own, read-only, with a person or a team: a dataset, a project (its
jobs, logs and outputs) and an environment. Tried as the owner, the person or team member it is
shared with, a member of the owning team who is no maintainer, and a stranger."""

from __future__ import annotations

from tests.service.helpers import make_dataset, submit, wait_for
from tests.service.test_made_environments import built, make


def test_a_dataset_shared_with_a_person_and_a_team_is_read_only_to_them(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    carl, carl_token = service.user("carl")
    _mallory, mallory_token = service.user("mallory")
    team = service.team("lab", [carl])
    make_dataset(service, alice_token, "mnist", {"a.txt": b"1"})
    path = f"datasets/{alice}/mnist"
    assert service.api("GET", path, bob_token).status_code == 404

    resp = service.api("PUT", f"{path}/shares/{bob}", alice_token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["grantee_kind"] == "user" and resp.json()["thing"] == f"{alice}/mnist"
    assert service.api("PUT", f"{path}/shares/{bob}", alice_token).ok  # again: no change
    resp = service.api("PUT", f"{path}/shares/{team}", alice_token)
    assert resp.json()["grantee_kind"] == "team"

    for token in (bob_token, carl_token):
        assert service.api("GET", f"{path}/versions/1/files/a.txt", token).content == b"1"
        assert f"{alice}/mnist" in [
            d["full_name"] for d in service.api("GET", "datasets", token).json()
        ]
        # Read-only: no new version, no delete, no resharing, no list of who else.
        body = {"manifest": []}
        assert service.api("POST", f"{path}/versions", token, json=body).status_code == 403
        resp = service.api("DELETE", path, token)
        assert resp.status_code == 404 and "that you may change" in resp.json()["error"]
        assert service.api("PUT", f"{path}/shares/{_mallory}", token).status_code == 403
        assert service.api("GET", f"{path}/shares", token).status_code == 403
    # bob's job may mount it.
    job = submit(service, bob_token, kind="command", command="x", datasets=[f"{alice}/mnist:1"])
    assert wait_for(service, bob_token, job)["state"] == "complete"

    listed = service.api("GET", f"{path}/shares", alice_token).json()
    assert [(s["grantee"], s["grantee_kind"]) for s in listed] == sorted(
        [(bob, "user"), (team, "team")]
    )
    # A stranger meets "not found"; a share to nobody is a 404 naming what would be right.
    for method in ("GET", "PUT", "DELETE"):
        suffix = "" if method == "GET" else f"/{bob}"
        assert service.api(method, f"{path}/shares{suffix}", mallory_token).status_code == 404
    resp = service.api("PUT", f"{path}/shares/nobody-at-all", alice_token)
    assert resp.status_code == 404 and "no user or team named nobody-at-all" in resp.json()["error"]
    resp = service.api("PUT", f"{path}/shares/{alice}", alice_token)
    assert resp.status_code == 400
    assert len(service.api("GET", f"{path}/shares", alice_token).json()) == 2

    # The owner sees whom it is shared with (JSON and page); those it is shared with do not.
    assert service.api("GET", path, alice_token).json()["shared_with"] == sorted([bob, team])
    assert service.api("GET", path, bob_token).json()["shared_with"] is None
    page = service.page(f"datasets/{alice}/mnist", alice_token).text
    assert 'id="shared-with"' in page and bob in page
    assert 'id="shared-with"' not in service.page(f"datasets/{alice}/mnist", bob_token).text
    # bob's datasets page lists it under "Shared with me"; carl's under it too, not "Mine".
    listing = service.page("datasets", bob_token).text
    shared = listing.index('data-section="Shared with me"')
    assert listing.index(f"{alice}/mnist", shared) > shared

    # Unsharing takes it away at once; a second unshare is a 404.
    assert service.api("DELETE", f"{path}/shares/{bob}", alice_token).ok
    assert service.api("GET", path, bob_token).status_code == 404
    assert service.api("DELETE", f"{path}/shares/{bob}", alice_token).status_code == 404
    assert service.api("GET", path, carl_token).ok


def test_a_shared_project_shows_its_jobs_logs_and_outputs_and_nothing_more(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    _mallory, mallory_token = service.user("mallory")
    job = submit(service, alice_token, project="cats", kind="command", command="x")
    wait_for(service, alice_token, job)
    assert service.api("GET", f"jobs/{job['id']}", bob_token).status_code == 404
    resp = service.api("PUT", f"projects/{alice}/cats/shares/{bob}", alice_token)
    assert resp.status_code == 200, resp.text

    for path in (f"jobs/{job['id']}", f"jobs/{job['id']}/logs", f"jobs/{job['id']}/output"):
        assert service.api("GET", path, bob_token).ok, path
    assert job["id"] in [j["id"] for j in service.api("GET", "jobs", bob_token).json()]
    assert f"{alice}/cats" in [
        p["full_name"] for p in service.api("GET", "projects", bob_token).json()
    ]
    # The output may be mounted by bob's own job.
    mine = submit(
        service, bob_token, kind="command", command="x", datasets=[f"{job['name']}/output"]
    )
    assert wait_for(service, bob_token, mine)["state"] == "complete"
    assert service.api("DELETE", f"jobs/{job['id']}", bob_token).status_code == 404
    assert service.api("POST", f"jobs/{job['id']}/stop", bob_token).status_code == 403
    # A rerun by bob is his own job, in his own project of that name (a copy, as of public
    # work): alice's project gets no job of his.
    resp = service.api("POST", f"jobs/{job['id']}/rerun", bob_token, json={})
    assert resp.status_code == 201 and resp.json()["owner"] == bob, resp.text
    wait_for(service, bob_token, resp.json())
    resp = service.api(
        "POST",
        "jobs",
        bob_token,
        json={"project": f"{alice}/cats", "kind": "command", "command": "x"},
    )
    assert resp.status_code == 404, "a shared project is read-only: no jobs in it"
    assert service.api("GET", f"jobs/{job['id']}", mallory_token).status_code == 404
    assert service.api("PUT", f"projects/{alice}/nope/shares/{bob}", alice_token).status_code == 404


def test_an_environment_shared_with_a_team_is_usable_by_its_members(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    _mallory, mallory_token = service.user("mallory")
    team = service.team("lab", [bob])
    env = built(service, alice_token, make(service, alice_token, "nlp", f"tabulate-{alice}==0.9.0"))
    assert env["state"] == "ready", env
    use = {"kind": "command", "command": "x", "environment": f"{alice}/nlp"}
    resp = service.api("POST", "jobs", bob_token, json={"project": "cats", **use})
    assert resp.status_code == 400
    assert service.api("PUT", f"environments/{alice}/nlp/shares/{team}", alice_token).ok
    job = submit(service, bob_token, **use)
    assert wait_for(service, bob_token, job)["state"] == "complete"
    assert f"{alice}/nlp:1" in [
        e["name"] for e in service.api("GET", "environments", bob_token).json()
    ]
    resp = service.api("POST", "jobs", mallory_token, json={"project": "cats", **use})
    assert resp.status_code == 400
    page = service.page(f"environments/{alice}/nlp/1", alice_token).text
    assert 'id="shared-with"' in page and team in page
    listing = service.page("environments", bob_token).text
    assert listing.index('data-section="Shared with me"') < listing.index(f"{alice}/nlp:1")
    # A member of a team makes the team's own environment.
    resp = make(service, bob_token, f"{team}/tools", f"tabulate-{bob}==0.9.0")
    assert resp.status_code == 202, resp.text
    assert resp.json()["name"] == f"{team}/tools:1" and resp.json()["owner"] == team
    resp = make(service, mallory_token, f"{team}/tools", "tabulate==0.9.0")
    assert resp.status_code == 404
