"""Who may see and touch what, tried as a second user: the same rules in every endpoint."""

from __future__ import annotations

from tests.service.fake_hub import SERVICE_SCOPE
from tests.service.helpers import assert_storage_counted, make_dataset, submit, wait_for


def test_private_datasets_are_invisible_and_public_ones_read_only_to_others(service):
    alice, alice_token = service.user("alice")
    _bob, bob_token = service.user("bob")
    make_dataset(service, alice_token, "secret", {"a.txt": b"alice's"})
    make_dataset(service, alice_token, "shared", {"b.txt": b"everyone's"}, public=True)

    listing = service.api("GET", "datasets", bob_token).json()
    assert [d["full_name"] for d in listing] == [f"{alice}/shared"]
    for path in (
        f"datasets/{alice}/secret",
        f"datasets/{alice}/secret/versions/1",
        f"datasets/{alice}/secret/versions/1/files/a.txt",
    ):
        resp = service.api("GET", path, bob_token)
        assert resp.status_code == 404, path
        assert resp.json()["error"] == f"no dataset {alice}/secret that you can read"
    shared = service.api("GET", f"datasets/{alice}/shared/versions/1/files/b.txt", bob_token)
    assert shared.content == b"everyone's"
    resp = service.api(
        "POST", f"datasets/{alice}/shared/versions", bob_token, json={"manifest": []}
    )
    assert resp.status_code == 403 and f"only {alice} can add versions" in resp.json()["error"]
    resp = service.api(
        "POST", f"datasets/{alice}/secret/versions", bob_token, json={"manifest": []}
    )
    assert resp.status_code == 404
    # The pages keep the same rule.
    assert service.page(f"datasets/{alice}/secret", bob_token).status_code == 404
    assert service.page(f"datasets/{alice}/shared/1", bob_token).status_code == 200


def test_admins_see_every_dataset(service):
    alice, alice_token = service.user("alice")
    _admin, admin_token = service.user("root", admin=True)
    make_dataset(service, alice_token, "private", {"x": b"1"})
    names = [d["full_name"] for d in service.api("GET", "datasets", admin_token).json()]
    assert f"{alice}/private" in names
    assert service.api("GET", f"datasets/{alice}/private/versions/1", admin_token).ok


def test_users_see_and_touch_only_their_own_jobs(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    job = wait_for(service, alice_token, submit(service, alice_token, kind="command", command="x"))
    assert job["state"] == "complete", job
    for method, path in (
        ("GET", f"jobs/{job['id']}"),
        ("GET", f"jobs/{alice}/cats/1"),
        ("GET", f"jobs/{alice}/projects/cats/1"),
        ("GET", f"jobs/{job['id']}/logs"),
        ("GET", f"jobs/{job['id']}/metrics"),
        ("GET", f"jobs/{job['id']}/output"),
        ("GET", f"jobs/{job['id']}/output/files/out.txt"),
        ("POST", f"jobs/{job['id']}/stop"),
        ("POST", f"jobs/{job['id']}/rerun"),
    ):
        resp = service.api(method, path, bob_token)
        assert resp.status_code == 404, (path, resp.text)
    assert service.api("GET", "jobs", bob_token).json() == []
    assert service.api("GET", f"jobs?project={alice}/cats", bob_token).json() == []
    assert service.api("GET", "projects", bob_token).json() == []
    for page in (f"jobs/{job['id']}", f"projects/{alice}/cats", f"jobs/{job['id']}/notebook"):
        assert service.page(page, bob_token).status_code == 404, page
    resp = service.api(
        "POST",
        "jobs",
        bob_token,
        json={
            "project": "x",
            "kind": "command",
            "command": "true",
            "datasets": [f"{alice}/cats/1/output"],
        },
    )
    assert resp.status_code == 404 and resp.json()["field"] == "datasets", resp.text
    # Bob's own job of the same number is his, not Alice's.
    mine = submit(service, bob_token, kind="command", command="x")
    assert mine["name"] == f"{bob}/cats/1"


def test_admins_see_every_job_and_a_rerun_is_their_own(service):
    alice, alice_token = service.user("alice")
    admin, admin_token = service.user("root", admin=True)
    job = wait_for(service, alice_token, submit(service, alice_token, kind="command", command="x"))
    assert service.api("GET", f"jobs/{job['id']}", admin_token).status_code == 200
    assert (
        service.api("GET", f"jobs?project={alice}/cats", admin_token).json()[0]["id"] == job["id"]
    )
    again = service.api("POST", f"jobs/{job['id']}/rerun", admin_token)
    assert again.status_code == 201 and again.json()["name"] == f"{admin}/cats/1"


def test_only_admins_read_the_blob_statistics(service):
    _name, token = service.user("curious")
    _admin, admin_token = service.user("root", admin=True)
    resp = service.api("GET", "blobs/stats", token)
    assert resp.status_code == 403 and "only admins" in resp.json()["error"]
    stats = service.api("GET", "blobs/stats", admin_token).json()
    assert set(stats) == {"received_bytes", "received_blobs", "served_to_nodes"}


def test_a_token_without_the_service_scope_is_refused(service):
    token = service.hub.add_user("scopeless", scopes=())
    resp = service.api("GET", "datasets", token)
    assert resp.status_code == 401 and "Authorization: token" in resp.json()["error"]


def test_an_admins_workspace_token_is_no_floe_admin(service):
    alice, alice_token = service.user("alice")
    make_dataset(service, alice_token, "private", {"x": b"1"})
    # What an admin's workspace or job holds: the admin flag, but not Floe's admin scope.
    token = service.hub.add_user("root-workspace", admin=True, scopes=(SERVICE_SCOPE,))
    assert service.api("GET", f"datasets/{alice}/private", token).status_code == 404
    assert alice not in {d["owner"] for d in service.api("GET", "datasets", token).json()}
    assert service.api("GET", "blobs/stats", token).status_code == 403


def test_a_name_deleted_and_made_again_starts_with_nothing(service):
    alice, token = service.user("alice")
    make_dataset(service, token, "private", {"x": b"old alice's"})
    job = wait_for(service, token, submit(service, token, kind="command", command="x"))
    # The hub deletes alice; later someone signs up as alice.
    newcomer = service.hub.remake_user(alice)
    assert alice not in {d["owner"] for d in service.api("GET", "datasets", newcomer).json()}
    assert service.api("GET", f"datasets/{alice}/private", newcomer).status_code == 404
    assert service.api("GET", f"jobs/{job['id']}", newcomer).status_code == 404
    assert service.api("GET", "jobs", newcomer).json() == []
    # The old user's things are still there, retired, for admins.
    _admin, admin_token = service.user("root", admin=True)
    owners = {d["owner"] for d in service.api("GET", "datasets", admin_token).json()}
    assert any(o.startswith(f"{alice}~") for o in owners)
    # The newcomer starts clean: the name is theirs to use again, their storage empty.
    assert service.api("POST", "datasets", newcomer, json={"name": "private"}).status_code == 201
    assert service.api("GET", "storage", newcomer).json()["used"] == 0
    assert_storage_counted(service)


def test_nobody_signs_up_as_a_retired_name(service):
    alice, token = service.user("alice")
    make_dataset(service, token, "private", {"x": b"old alice's"})
    newcomer = service.hub.remake_user(alice)
    service.api("GET", "datasets", newcomer)  # alice's things are retired to alice~<digits>
    _admin, admin_token = service.user("root", admin=True)
    owners = {d["owner"] for d in service.api("GET", "datasets", admin_token).json()}
    (retired,) = [o for o in owners if o.startswith(f"{alice}~")]
    impostor = service.hub.add_user(retired)
    resp = service.api("GET", "datasets", impostor)
    assert resp.status_code == 403 and "ends in '~' and digits" in resp.json()["error"]
    resp = service.api("GET", f"datasets/{retired}/private/versions/1/files/x", impostor)
    assert resp.status_code == 403
    assert service.page("datasets", impostor).status_code == 403
