"""Catalog entries limited to a team (``teams``): offered to and accepted from its members
(and admins); to anyone else such a machine type or environment does not exist, refused
exactly as a made-up one is."""

from __future__ import annotations

from tests.service.conftest import LAB_TEAM
from tests.service.helpers import submit, until, wait_for


def catalog_slugs(service, token: str) -> tuple[list[str], list[str]]:
    found = service.api("GET", "catalog", token)
    assert found.status_code == 200, found.text
    body = found.json()
    return [m["slug"] for m in body["machines"]], [e["slug"] for e in body["environments"]]


def refused(service, token: str, **body) -> dict:
    resp = service.api("POST", "jobs", token, json={"project": "cats", "kind": "command",
                                                     "command": "true", **body})  # fmt: skip
    assert resp.status_code == 400, resp.text
    return resp.json()


def test_a_team_machine_is_its_members_and_unknown_to_anyone_else(service):
    alice, alice_token = service.user("alice")
    _mallory, mallory_token = service.user("mallory")
    _admin, admin_token = service.user("root", admin=True)
    service.hub.add_group(LAB_TEAM, [alice])

    # A member sees the team's machine type and environment (once the directory has read the
    # group: it reads the hub's groups every 0.2 s here).
    machines, environments = until(
        lambda: "lab-box" in (found := catalog_slugs(service, alice_token))[0] and found
    )
    assert machines[:2] == ["cpu-small", "cpu-large"] and "lab-box" in machines
    assert "lab-env" in environments
    assert "lab-box" in catalog_slugs(service, admin_token)[0]

    # ... and runs a job on them.
    job = submit(
        service, alice_token, kind="command", command="x", machine="lab-box", environment="lab-env"
    )
    assert (job["machine"], job["environment"]) == ("lab-box", "lab-env")
    assert wait_for(service, alice_token, job)["state"] == "complete"

    # A stranger is offered neither, and is told of neither.
    machines, environments = catalog_slugs(service, mallory_token)
    assert "lab-box" not in machines and "cpu-tiny" in machines
    assert "lab-env" not in environments and "python" in environments
    team_only = refused(service, mallory_token, machine="lab-box")
    made_up = refused(service, mallory_token, machine="lab-boz")
    assert team_only["field"] == made_up["field"] == "machine"
    assert team_only["error"] == made_up["error"].replace("lab-boz", "lab-box")
    assert "lab-box" not in team_only["error"].split("valid machines:")[1]
    assert "cpu-tiny" in team_only["error"]
    team_only = refused(service, mallory_token, environment="lab-env")
    made_up = refused(service, mallory_token, environment="lab-enz")
    assert team_only["field"] == made_up["field"] == "environment"
    assert team_only["error"] == made_up["error"].replace("lab-enz", "lab-env")
    assert "lab-env" not in team_only["error"].split("valid environments:")[1]
    # Nor as the environment another is made from, nor in `floe env ls`'s list.
    resp = service.api(
        "POST", "environments", mallory_token,
        json={"name": "nlp", "from": "lab-env", "requirements": "tabulate==0.9.0\n"},
    )  # fmt: skip
    assert resp.status_code == 400 and "unknown environment 'lab-env'" in resp.text, resp.text
    listed = [e["name"] for e in service.api("GET", "environments", mallory_token).json()]
    assert "lab-env" not in listed and "python" in listed
    assert "lab-env" in [e["name"] for e in service.api("GET", "environments", alice_token).json()]

    # A schedule runs as its project's owner: one of the team's project may use the team's
    # machine; one of the member's own project (it would run as them alone) is refused now.
    body = {"kind": "command", "command": "true", "cron": "@every 1s", "machine": "lab-box"}
    resp = service.api("POST", "schedules", alice_token, json={**body, "project": "nightly"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == "machine"
    assert f"'lab-box' is for members of {LAB_TEAM}" in resp.json()["error"]
    assert f"{LAB_TEAM}/nightly" in resp.json()["error"]
    projects = [p["full_name"] for p in service.api("GET", "projects", alice_token).json()]
    assert f"{alice}/nightly" not in projects, "a refused schedule makes no project"
    resp = service.api(
        "POST", "schedules", alice_token, json={**body, "project": f"{LAB_TEAM}/nightly"}
    )
    assert resp.status_code == 201, resp.text
    schedule = resp.json()
    runs = until(lambda: service.api("GET", f"jobs?project={LAB_TEAM}/nightly", alice_token).json())
    assert runs[-1]["machine"] == "lab-box" and runs[-1]["schedule"] == schedule["id"]
    assert service.api("DELETE", f"schedules/{schedule['id']}", alice_token).status_code == 204

    # A member the hub removes from the group loses them too: their re-run is refused.
    service.hub.remove_member(LAB_TEAM, alice)
    until(lambda: "lab-box" not in catalog_slugs(service, alice_token)[0], 10)
    resp = service.api("POST", f"jobs/{job['id']}/rerun", alice_token, json={})
    assert resp.status_code == 400 and "unknown" in resp.json()["error"], resp.text
