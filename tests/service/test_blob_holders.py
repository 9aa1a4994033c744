"""Knowing a blob's hash is not holding its bytes: nobody reads another's private file by
naming its sha256 in a manifest, a job's code or a snapshot's output."""

from __future__ import annotations

import hashlib

from tests.notebooks import notebook
from tests.service.helpers import make_dataset, wait_for

SECRET = b"alice's private weights"
S = hashlib.sha256(SECRET).hexdigest()


def test_a_hash_alone_never_reaches_someone_elses_bytes(service):
    alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    make_dataset(service, alice_token, "private", {"weights.bin": SECRET})

    # The store has S, but Bob has not shown he holds it: for him it is missing.
    resp = service.api("POST", "blobs/missing", bob_token, json={"blobs": [S]})
    assert resp.json() == {"missing": [S]}
    assert service.api("POST", "blobs/missing", alice_token, json={"blobs": [S]}).json() == {
        "missing": []
    }

    stolen = [{"path": "loot.bin", "sha256": S, "size": len(SECRET)}]
    service.api("POST", "datasets", bob_token, json={"name": "loot"})
    resp = service.api(
        "POST", f"datasets/{bob}/loot/versions", bob_token, json={"manifest": stolen}
    )
    assert resp.status_code == 409 and resp.json()["missing"] == [S], resp.text
    for body in (
        {"project": "p", "kind": "command", "command": "cat loot.bin", "code": stolen},
        {"project": "p", "kind": "snapshot", "notebook": notebook(), "output": stolen},
    ):
        resp = service.api("POST", "jobs", bob_token, json=body)
        assert resp.status_code == 409 and resp.json()["missing"] == [S], resp.text
        assert resp.json()["field"] in ("code", "output")
    assert service.api("GET", f"datasets/{bob}/loot", bob_token).json()["versions"] == []


def test_whoever_sends_the_bytes_holds_them_and_sizes_come_from_the_store(service):
    _alice, alice_token = service.user("alice")
    bob, bob_token = service.user("bob")
    make_dataset(service, alice_token, "private", {"weights.bin": SECRET})
    # Bob has the same bytes himself: he sends them (checked against S), the store keeps one copy.
    assert service.api("PUT", f"blobs/{S}", bob_token, data=SECRET).status_code == 201
    lying = [{"path": "mine.bin", "sha256": S, "size": 10**12}]
    service.api("POST", "datasets", bob_token, json={"name": "mine"})
    resp = service.api("POST", f"datasets/{bob}/mine/versions", bob_token, json={"manifest": lying})
    assert resp.status_code == 201, resp.text
    assert resp.json()["size"] == len(SECRET)
    files = service.api("GET", f"datasets/{bob}/mine/versions/1", bob_token).json()["files"]
    assert files == [{"path": "mine.bin", "sha256": S, "size": len(SECRET), "mode": 0o644}]


def test_a_jobs_kept_output_is_its_owners_to_reuse(service):
    owner, token = service.user("alice")
    job = service.api(
        "POST", "jobs", token, json={"project": "cats", "kind": "command", "command": "x"}
    ).json()
    wait_for(service, token, job)
    files = service.api("GET", f"jobs/{job['id']}/output", token).json()["files"]
    # `floe data add`: the output becomes a dataset version without sending a byte again.
    service.api("POST", "datasets", token, json={"name": "from-job"})
    resp = service.api(
        "POST", f"datasets/{owner}/from-job/versions", token, json={"manifest": files}
    )
    assert resp.status_code == 201, resp.text
    _admin, admin_token = service.user("root", admin=True)
    assert service.api(
        "POST", "blobs/missing", admin_token, json={"blobs": [files[0]["sha256"]]}
    ).json() == {"missing": []}
