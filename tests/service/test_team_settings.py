"""A team's page of the API: members, maintainers (named by maintainers, kept in the hub
group), settings only an admin sets, usage against them, and the queue honouring them: a
team's limit on jobs at once, and its share of the GPU machine type (fake GPUs)."""

from __future__ import annotations

from tests.service.helpers import submit, until, wait_for


def test_members_read_a_team_maintainers_name_maintainers_admins_set_its_limits(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    _mallory, mallory_token = service.user("mallory")
    _root, admin_token = service.user("root", admin=True)
    team = service.team("lab", [alice, bob], maintainers=[alice])

    # The list is the directory's last reading (c.TeamDirectory.refresh_seconds old at most).
    listed = until(
        lambda: [t for t in service.api("GET", "teams", bob_token).json() if t["name"] == team]
    )
    mine = next(t for t in listed if t["name"] == team)
    assert mine["maintainers"] == [alice] and not mine["you_maintain"]
    assert all(t["name"] != team for t in service.api("GET", "teams", mallory_token).json())
    assert team in [t["name"] for t in service.api("GET", "teams", admin_token).json()]

    shown = service.api("GET", f"teams/{team}", bob_token).json()
    assert shown["members"] == sorted([alice, bob])
    assert shown["settings"] == {
        "storage_bytes": None,
        "max_running": None,
        "max_gpus": None,
        "shares": {},
    }
    assert shown["usage"]["running"] == 0 and shown["waiting"] == []
    resp = service.api("GET", f"teams/{team}", mallory_token)
    assert resp.status_code == 404 and f"no team {team}" in resp.json()["error"]
    assert service.api("GET", "teams/no-such-team", admin_token).status_code == 404

    # Maintainers: a member may not name one; a maintainer may, only of members.
    resp = service.api("PUT", f"teams/{team}/maintainers/{bob}", bob_token)
    assert resp.status_code == 403 and alice in resp.json()["error"]
    resp = service.api("PUT", f"teams/{team}/maintainers/{_mallory}", alice_token)
    assert resp.status_code == 400 and "not a member" in resp.json()["error"]
    resp = service.api("PUT", f"teams/{team}/maintainers/{bob}", alice_token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["maintainers"] == sorted([alice, bob])
    assert service.hub.groups[team]["properties"]["maintainers"] == sorted([alice, bob])
    resp = service.api("DELETE", f"teams/{team}/maintainers/{alice}", bob_token)
    assert resp.json()["maintainers"] == [bob]

    # Settings: an admin's; a maintainer is told so; bad values are 400s, nothing kept.
    body = {"max_running": 1, "shares": {"gpu-1": 0.5}}
    resp = service.api("PUT", f"teams/{team}/settings", bob_token, json=body)
    assert resp.status_code == 403 and "only an admin" in resp.json()["error"]
    for bad in ({"shares": {"gpu-9": 0.5}}, {"shares": {"gpu-1": 2}}, {"max_running": -1}):
        resp = service.api("PUT", f"teams/{team}/settings", admin_token, json=bad)
        assert resp.status_code == 400, (bad, resp.text)
    assert service.api("GET", f"teams/{team}", bob_token).json()["settings"]["shares"] == {}
    resp = service.api("PUT", f"teams/{team}/settings", admin_token, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["settings"]["max_running"] == 1
    assert resp.json()["settings"]["shares"] == {"gpu-1": 0.5}
    resp = service.api("PUT", f"teams/{team}/settings", admin_token, json={"max_running": None})
    assert resp.json()["settings"] == {
        "storage_bytes": None,
        "max_running": None,
        "max_gpus": None,
        "shares": {"gpu-1": 0.5},
    }


def test_a_teams_limit_holds_its_jobs_and_its_page_says_why(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    _root, admin_token = service.user("root", admin=True)
    team = service.team("lab", [alice, bob])
    service.api("PUT", f"teams/{team}/settings", admin_token, json={"max_running": 1})

    first = submit(service, alice_token, project=f"{team}/cats", kind="command", command="sleep")
    wait_for(service, alice_token, first, states=("running",))
    second = submit(service, bob_token, project=f"{team}/cats", kind="command", command="sleep")
    # bob's own work is not held by his team's limit.
    own = submit(service, bob_token, kind="command", command="x")
    assert wait_for(service, bob_token, own)["state"] == "complete"

    why = f"team {team} has 1 job(s) running, the most it may run at once"
    until(lambda: why in service.api("GET", f"jobs/{second['id']}", bob_token).json()["reason"])
    shown = service.api("GET", f"teams/{team}", bob_token).json()
    assert shown["usage"]["running"] == 1 and shown["usage"]["queued"] == 1
    assert shown["waiting"] == [
        {
            "name": second["name"],
            "submitted_by": bob,
            "machine": second["machine"],
            "reason": f"waiting: {why} (`floe team show {team}`)",
        }
    ]
    page = service.page(f"teams/{team}", bob_token)
    assert page.status_code == 200 and second["name"] in page.text and why in page.text
    assert service.page(f"teams/{team}", service.user("eve")[1]).status_code == 404
    assert team in service.page("teams", alice_token).text
    service.api("POST", f"jobs/{first['id']}/stop", alice_token)
    wait_for(service, bob_token, second, states=("running",))
    service.api("POST", f"jobs/{second['id']}/stop", bob_token)
    wait_for(service, bob_token, second)


def test_a_team_at_its_gpu_share_waits_while_a_team_below_its_share_starts(service):
    # Three fake GPUs. ml is owed a third of the gpu-1 machine type (one job), cv two thirds
    # (two). ml, cv and a user of no team run one each; then ml queues a job, and cv one
    # after it. When the lone user's GPU comes free, ml is at its share and cv below its own:
    # cv's newer job takes the GPU, though by jobs running alone the two teams are even and
    # ml's job is older and its runner runs none.
    ann, ann_token = service.user("ann")
    amy, amy_token = service.user("amy")
    cat, cat_token = service.user("cat")
    _sol, sol_token = service.user("sol")
    _root, admin_token = service.user("root", admin=True)
    ml, cv = service.team("ml", [ann, amy]), service.team("cv", [cat])
    for team, share in ((ml, 1 / 3), (cv, 2 / 3)):
        body = {"shares": {"gpu-1": share}}
        resp = service.api("PUT", f"teams/{team}/settings", admin_token, json=body)
        assert resp.ok, resp.text
    service.runner.backend.gpu_driver = True
    gpu = {"kind": "command", "command": "sleep", "machine": "gpu-1"}
    jobs = []
    try:
        for project, token in ((f"{ml}/cats", ann_token), (f"{cv}/cats", cat_token)):
            jobs.append((submit(service, token, project=project, **gpu), token))
        lone = submit(service, sol_token, project="cats", **gpu)
        jobs.append((lone, sol_token))
        for job, token in jobs:
            wait_for(service, token, job, states=("running",))
        of_ml = submit(service, amy_token, project=f"{ml}/cats", **gpu)
        of_cv = submit(service, cat_token, project=f"{cv}/cats", **gpu)
        jobs += [(of_ml, amy_token), (of_cv, cat_token)]
        until(lambda: service.api("GET", f"jobs/{of_cv['id']}", cat_token).json()["reason"])

        service.api("POST", f"jobs/{lone['id']}/stop", sol_token)
        wait_for(service, cat_token, of_cv, states=("running",))
        waiting = service.api("GET", f"jobs/{of_ml['id']}", amy_token).json()
        assert waiting["state"] == "queued", waiting
        shown = service.api("GET", f"teams/{ml}", amy_token).json()
        assert shown["usage"]["running_by_machine"] == {"gpu-1": 1}
        assert shown["usage"]["gpus"] == 1
        assert [w["name"] for w in shown["waiting"]] == [of_ml["name"]]
    finally:
        for job, token in jobs:
            service.api("POST", f"jobs/{job['id']}/stop", token)
        for job, token in jobs:
            wait_for(service, token, job)
        service.runner.backend.gpu_driver = False
