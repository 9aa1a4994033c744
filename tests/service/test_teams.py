"""Teams in the fast tier: a hub group's datasets and projects, tried as the member who made
them, another member, a maintainer, a stranger and an admin; a member the hub removes."""

from __future__ import annotations

from tests.service.helpers import make_dataset, submit, until, wait_for


def test_a_team_dataset_is_read_and_added_to_by_members_deleted_by_maintainers(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    carol, carol_token = service.user("carol")
    _mallory, mallory_token = service.user("mallory")
    _admin, admin_token = service.user("root", admin=True)
    team = service.team("lab", [alice, bob, carol], maintainers=[carol])

    make_dataset(service, alice_token, "mnist", {"a.txt": b"1"}, owner=team)
    made = service.api("GET", f"datasets/{team}/mnist", bob_token).json()
    assert made["owner"] == team and made["full_name"] == f"{team}/mnist"
    for token in (alice_token, bob_token, carol_token, admin_token):
        assert service.api("GET", f"datasets/{team}/mnist/versions/1", token).ok
        listed = [d["full_name"] for d in service.api("GET", "datasets", token).json()]
        assert f"{team}/mnist" in listed
    # A member adds a version.
    resp = service.api("POST", f"datasets/{team}/mnist/versions", bob_token, json={"manifest": []})
    assert resp.status_code == 201, resp.text

    # A stranger meets "not found" everywhere, and cannot make things in the team's name.
    for method, path, body in (
        ("GET", f"datasets/{team}/mnist", None),
        ("GET", f"datasets/{team}/mnist/versions/1", None),
        ("GET", f"datasets/{team}/mnist/versions/1/files/a.txt", None),
        ("POST", f"datasets/{team}/mnist/versions", {"manifest": []}),
        ("DELETE", f"datasets/{team}/mnist/versions/2", None),
        ("DELETE", f"datasets/{team}/mnist", None),
    ):
        resp = service.api(method, path, mallory_token, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    assert all(d["owner"] != team for d in service.api("GET", "datasets", mallory_token).json())
    resp = service.api("POST", "datasets", mallory_token, json={"name": "x", "owner": team})
    assert resp.status_code == 404
    assert f"no team {team} that you are a member of" in resp.json()["error"]
    resp = service.api("POST", "datasets", mallory_token, json={"name": "x", "owner": alice})
    assert resp.status_code == 404, "another user's name is no namespace of theirs either"

    # Deleting is the maintainers': a member is told who may.
    resp = service.api("DELETE", f"datasets/{team}/mnist/versions/2", bob_token)
    assert resp.status_code == 403 and "maintainers" in resp.json()["error"]
    assert service.api("DELETE", f"datasets/{team}/mnist/versions/2", carol_token).ok


def test_a_team_project_is_run_in_by_members_and_hidden_from_strangers(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    _mallory, mallory_token = service.user("mallory")
    team = service.team("lab", [alice, bob], maintainers=[alice])
    make_dataset(service, alice_token, "mnist", {"a.txt": b"1"}, owner=team)

    job = submit(
        service,
        bob_token,
        project=f"{team}/cats",
        kind="command",
        command="x",
        datasets=[f"{team}/mnist:1"],
    )
    assert job["name"] == f"{team}/cats/1" and job["owner"] == team
    assert job["submitted_by"] == bob
    assert wait_for(service, bob_token, job)["state"] == "complete"
    assert service.api("GET", f"jobs/{team}/cats/1", alice_token).ok
    assert job["id"] in [j["id"] for j in service.api("GET", "jobs", alice_token).json()]
    for method, path in (
        ("GET", f"jobs/{job['id']}"),
        ("GET", f"jobs/{team}/cats/1"),
        ("GET", f"jobs/{job['id']}/logs"),
        ("GET", f"jobs/{job['id']}/output"),
        ("POST", f"jobs/{job['id']}/stop"),
        ("POST", f"jobs/{job['id']}/rerun"),
        ("DELETE", f"jobs/{job['id']}"),
    ):
        resp = service.api(method, path, mallory_token, json={} if method == "POST" else None)
        assert resp.status_code == 404, (method, path, resp.text)
    assert job["id"] not in [j["id"] for j in service.api("GET", "jobs", mallory_token).json()]
    resp = service.api(
        "POST",
        "jobs",
        mallory_token,
        json={"project": f"{team}/cats", "kind": "command", "command": "x"},
    )
    assert resp.status_code == 404

    # Deleting a team's job is its maintainers'.
    resp = service.api("DELETE", f"jobs/{job['id']}", bob_token)
    assert resp.status_code == 403, resp.text

    # The hub removes bob from the group: he reads nothing of the team's; nothing is lost.
    service.hub.remove_member(team, bob)
    until(lambda: service.api("GET", f"jobs/{job['id']}", bob_token).status_code == 404, 10)
    assert service.api("GET", f"datasets/{team}/mnist", bob_token).status_code == 404
    assert service.api("GET", f"jobs/{job['id']}", alice_token).ok
    assert service.api("DELETE", f"jobs/{job['id']}", alice_token).ok


def test_pages_list_mine_then_each_teams_things(service):
    alice, alice_token = service.user("alice")
    team = service.team("lab", [alice])
    make_dataset(service, alice_token, "own", {"a.txt": b"1"})
    make_dataset(service, alice_token, "joint", {"a.txt": b"2"}, owner=team)
    page = service.page("datasets", alice_token).text
    mine, theirs = page.index('data-section="Mine"'), page.index(f'data-section="Team {team}"')
    assert mine < page.index(f"{alice}/own") < theirs < page.index(f"{team}/joint")
    job = submit(service, alice_token, project=f"{team}/cats", kind="command", command="x")
    wait_for(service, alice_token, job)
    page = service.page("projects", alice_token).text
    assert page.index(f'data-section="Team {team}"') < page.index(f"{team}/cats")


def test_a_team_serving_jobs_tokens_are_given_by_who_ran_it_or_a_maintainer(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    carol, carol_token = service.user("carol")
    team = service.team("lab", [alice, bob, carol], maintainers=[carol])
    job = submit(
        service, alice_token, project=f"{team}/api", kind="command", command="serve", mode="serve"
    )
    try:
        path = f"jobs/{job['id']}/tokens"
        resp = service.api("POST", path, bob_token, json={"name": "x"})
        assert resp.status_code == 403 and "maintainers" in resp.json()["error"]
        for token in (alice_token, carol_token):
            resp = service.api("POST", path, token, json={"name": "client"})
            assert resp.status_code == 201, resp.text
    finally:
        service.api("POST", f"jobs/{job['id']}/stop", alice_token)
        wait_for(service, alice_token, job)


def test_a_group_named_like_a_user_made_before_floe_refused_it_is_no_team(service):
    alice, alice_token = service.user("alice")
    _mallory, mallory_token = service.user("mallory")
    make_dataset(service, alice_token, "private", {"a.txt": b"1"})
    service.hub.add_group(alice, [_mallory])  # as an older hub let an admin make it
    service.hub.add_group(f"ok{alice}", [_mallory])
    # Once the directory has read both groups, the second is a team and the first is not.
    until(
        lambda: any(
            t["name"] == f"ok{alice}" for t in service.api("GET", "teams", mallory_token).json()
        )
    )
    assert service.api("GET", f"datasets/{alice}/private", mallory_token).status_code == 404
    resp = service.api("POST", "datasets", mallory_token, json={"name": "x", "owner": alice})
    assert resp.status_code == 404
    assert all(t["name"] != alice for t in service.api("GET", "teams", mallory_token).json())
