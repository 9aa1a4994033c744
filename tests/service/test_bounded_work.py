"""No request makes the service hold, store or work on more than its limits allow."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from floe.trees.tree import MAX_DEPTH, MAX_ENTRIES, MAX_PATH_BYTES


def _chunks(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_json_body_over_its_cap_is_413_and_nothing_is_made(service, chunked):
    name, token = service.user("alice")
    body = b'{"name": "big", "description": "' + b"x" * (2 * 1024**2) + b'"}'
    data = _chunks(body) if chunked else body  # without a Content-Length, counted as it comes
    resp = service.api("POST", "datasets", token, data=data)
    assert resp.status_code == 413, resp.text
    assert resp.json() == {"error": "the request body may be at most 1 MiB"}
    assert service.api("GET", f"datasets/{name}/big", token).status_code == 404


def test_a_body_is_read_only_once_the_caller_is_known(service):
    resp = service.api("POST", "datasets", "not-a-token", data=b"{" * (2 * 1024**2))
    assert resp.status_code == 401  # not 413: nobody's bytes are read before they are known


def test_a_pack_over_its_cap_is_413_and_keeps_nothing(service):
    _name, token = service.user("alice")
    blob = b"y" * (1024**2)
    pack = b"".join(b"%d\n" % len(blob) + blob for _ in range(5))
    resp = service.api("POST", "blobs/pack", token, data=_chunks(pack))
    assert resp.status_code == 413, resp.text
    sha = hashlib.sha256(blob).hexdigest()
    assert service.api("POST", "blobs/missing", token, json={"blobs": [sha]}).json() == {
        "missing": [sha]
    }


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("a/" * MAX_DEPTH + "f", "folders deep"),
        ("x" * (MAX_PATH_BYTES + 1), "at most 4096 bytes"),
        ("n" * 256, "at most 255 bytes"),
    ],
)
def test_paths_are_bounded(service, path, fragment):
    name, token = service.user("alice")
    service.api("POST", "datasets", token, json={"name": "deep"})
    entry = {"path": path, "sha256": "a" * 64, "size": 1}
    resp = service.api("POST", f"datasets/{name}/deep/versions", token, json={"manifest": [entry]})
    assert resp.status_code == 400 and fragment in resp.json()["error"], resp.text


def test_deep_paths_cost_little(service):
    name, token = service.user("alice")
    service.api("POST", "datasets", token, json={"name": "deep"})
    # 2,000 files 100 folders deep: once 3.3 s on the event loop.
    manifest = [
        {"path": "/".join(["a"] * 100) + f"/f{i}", "sha256": "a" * 64, "size": 1}
        for i in range(2000)
    ]
    started = time.monotonic()
    resp = service.api("POST", f"datasets/{name}/deep/versions", token, json={"manifest": manifest})
    assert resp.status_code in (400, 409) and time.monotonic() - started < 3, resp.text[:200]


def test_a_tree_holds_a_bounded_number_of_files():
    from floe.core.errors import BadTree
    from floe.trees.tree import Entry, Tree

    entries = [Entry(f"f{i}", "a" * 64, 1) for i in range(MAX_ENTRIES + 1)]
    with pytest.raises(BadTree, match="at most 1000000 files"):
        Tree.from_entries(entries)


def test_metric_lines_are_capped_and_spread_for_the_page(service):
    from tests.service.helpers import submit, wait_for

    _name, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, kind="command", command="metrics 1000"))
    everything = service.api("GET", f"jobs/{job['id']}/metrics", token).json()
    assert everything["count"] == 300 and len(everything["metrics"]) == 300  # the cap
    assert everything["last"] == {"step": 300, "loss": 0.5, "__proto__": 300, "constructor": 1}
    page = service.api("GET", f"jobs/{job['id']}/metrics?points=50", token).json()
    indexes = [m["index"] for m in page["metrics"]]
    assert len(indexes) == 50 and indexes[0] == 1 and indexes[-1] == 300
    assert page["count"] == 300 and page["last"] == everything["last"]
    assert "ran: metrics 1000" in service.api("GET", f"jobs/{job['id']}/logs", token).text


def test_a_sparse_10_terabyte_file_in_output_is_never_read(service):
    from tests.service.helpers import submit, wait_for

    _name, token = service.user("alice")
    started = time.monotonic()
    job = wait_for(service, token, submit(service, token, kind="command", command="sparse"))
    assert time.monotonic() - started < 20 and job["state"] == "complete", job
    files = service.api("GET", f"jobs/{job['id']}/output", token).json()["files"]
    assert [f["path"] for f in files] == ["small.txt"]
    log = service.api("GET", f"jobs/{job['id']}/logs", token).text
    assert "not kept from /output: huge.bin (10 TiB, past the cap of 1 MiB)" in log


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("flood log", "its log passing 1 MiB, the most a job may write"),
        ("flood output", "its /output passing 1 MiB, the most a job keeps"),
    ],
)
def test_a_job_writing_past_its_limits_is_stopped_and_says_why(service, command, why):
    from tests.service.helpers import submit, wait_for

    _name, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, kind="command", command=command))
    assert (job["state"], job["reason"]) == ("stopped", f"stopped by {why}")


def test_a_users_storage_quota_holds_for_uploads_and_job_outputs(service):
    from tests.service.helpers import assert_storage_counted, submit, wait_for

    _name, token = service.user("alice")
    first = os.urandom(5 * 1024**2)
    sha = hashlib.sha256(first).hexdigest()
    assert service.api("PUT", f"blobs/{sha}", token, data=first).status_code == 201
    assert service.api("GET", "storage", token).json() == {"used": len(first), "quota": 8 * 1024**2}
    second = os.urandom(5 * 1024**2)
    resp = service.api("PUT", f"blobs/{hashlib.sha256(second).hexdigest()}", token, data=second)
    assert resp.status_code == 413
    assert "5 MiB more would pass the storage quota of 8 MiB" in resp.json()["error"]
    # What they hold already costs nothing to send again.
    assert service.api("PUT", f"blobs/{sha}", token, data=first).status_code == 201
    packed = b"".join(b"%d\n" % len(b) + b for b in (os.urandom(1024**2) for _ in range(4)))
    assert service.api("POST", "blobs/pack", token, data=packed).status_code == 413
    third = os.urandom(2 * 1024**2 + 512 * 1024)
    sha = hashlib.sha256(third).hexdigest()
    assert service.api("PUT", f"blobs/{sha}", token, data=third).status_code == 201
    job = wait_for(service, token, submit(service, token, kind="command", command="write 900"))
    assert job["state"] == "error" and "storage quota of 8 MiB is full" in job["reason"]
    log = service.api("GET", f"jobs/{job['id']}/logs", token).text
    assert "not kept from /output: out.bin (900 KiB" in log and "kept up to the" in log
    assert service.api("GET", "storage", token).json()["used"] <= 8 * 1024**2
    assert_storage_counted(service)
    # Sent without a length, counted as it comes; nothing is left spooled.
    fourth = os.urandom(1024**2)
    fourth_sha = hashlib.sha256(fourth).hexdigest()
    resp = service.api("PUT", f"blobs/{fourth_sha}", token, data=_chunks(fourth))
    assert resp.status_code == 413 and "what is sent would pass the storage quota" in resp.text
    spool = service.data / "cache" / "spool"
    deadline = time.monotonic() + 10  # the spool goes once the answer is sent
    while left := [p.name for p in spool.iterdir()]:
        assert time.monotonic() < deadline, left
        time.sleep(0.05)


def test_a_log_past_its_cap_is_kept_cut(service):
    from tests.service.helpers import submit, wait_for

    _name, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, kind="command", command="flood log"))
    assert job["state"] == "stopped" and "its log passing 1 MiB" in job["reason"], job
    log = service.api("GET", f"jobs/{job['id']}/logs", token).content
    assert len(log) < 1024**2 + 1024
    assert log.endswith(b"x\n[floe] the log was cut at 1 MiB of 2.0 MiB\n"), log[-80:]


def test_a_job_printing_metric_lines_without_end_holds_up_nobody(service):
    from tests.service.helpers import submit, wait_for

    _mallory, bad = service.user("mallory")
    _alice, token = service.user("alice")
    flood = submit(service, bad, kind="command", command="flood metrics")
    wait_for(service, bad, flood, ("running",))
    mine = submit(service, token, kind="command", command="sleep", max_runtime=1)
    started = time.monotonic()
    mine = wait_for(service, token, mine)
    assert mine["reason"] == "stopped by its maximum runtime of 1 s"
    assert time.monotonic() - started < 10
    flood = wait_for(service, bad, flood)
    assert flood["reason"] == "stopped by its log passing 1 MiB, the most a job may write"
    metrics = service.api("GET", f"jobs/{flood['id']}/metrics", bad).json()
    assert [m["values"] for m in metrics["metrics"]] == [{"step": 1, "loss": 0.5}]


def test_a_pack_of_too_many_blobs_is_refused(service):
    from floe.trees.pack import MAX_PACKED_BLOBS

    _name, token = service.user("alice")
    resp = service.api("POST", "blobs/pack", token, data=b"0\n" * (MAX_PACKED_BLOBS + 1))
    assert resp.status_code == 400, resp.text
    assert f"at most {MAX_PACKED_BLOBS} blobs" in resp.json()["error"]


def test_one_user_follows_a_bounded_number_of_logs(service):
    from floe_service.jobs_api import MAX_FOLLOWS
    from tests.service.helpers import submit, wait_for

    _alice, token = service.user("alice")
    job = submit(service, token, kind="command", command="sleep")
    job = wait_for(service, token, job, ("running",))
    logs = f"jobs/{job['id']}/logs?follow=1"
    followed = [service.api("GET", logs, token, stream=True) for _ in range(MAX_FOLLOWS)]
    try:
        assert {r.status_code for r in followed} == {200}
        refused = service.api("GET", logs, token)
        assert refused.status_code == 429 and "close one" in refused.json()["error"]
        _bob, bobs = service.user("bob")  # another user's share is their own
        bobs_job = wait_for(service, bobs, submit(service, bobs, kind="command", command="exit 0"))
        assert service.api("GET", f"jobs/{bobs_job['id']}/logs", bobs).status_code == 200
        followed.pop().close()
        deadline = time.monotonic() + 10
        while (again := service.api("GET", f"jobs/{job['id']}/logs?follow=0", token)).ok is False:
            assert time.monotonic() < deadline
        assert again.status_code == 200
    finally:
        for r in followed:
            r.close()
        service.api("POST", f"jobs/{job['id']}/stop", token)


def test_an_output_of_too_many_files_stops_the_job_and_keeps_what_fits(service):
    from tests.service.helpers import submit, wait_for

    _name, token = service.user("alice")
    job = submit(service, token, kind="command", command="flood files")
    job = wait_for(service, token, job)
    assert job["state"] == "stopped", job
    assert "its /output passing 200 files" in job["reason"]
    files = service.api("GET", f"jobs/{job['id']}/output", token).json()
    assert 0 < len(files["files"]) <= 200, len(files["files"])
    log = service.api("GET", f"jobs/{job['id']}/logs", token).text
    assert "past 200 files: it and what follows" in log


def test_uploads_in_parallel_never_pass_the_quota_together(service):
    from concurrent.futures import ThreadPoolExecutor

    from tests.service.helpers import assert_storage_counted

    _name, token = service.user("alice")
    blobs = [os.urandom(3 * 1024**2) for _ in range(4)]  # 12 MiB against a quota of 8

    def send(blob: bytes):
        sha = hashlib.sha256(blob).hexdigest()
        return service.api("PUT", f"blobs/{sha}", token, data=_chunks(blob, 256 * 1024))

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(r.status_code for r in pool.map(send, blobs))
    assert codes.count(201) <= 2 and set(codes) <= {201, 413}, codes
    assert service.api("GET", "storage", token).json()["used"] <= 8 * 1024**2
    assert_storage_counted(service)


def test_a_full_quota_refuses_jobs_that_could_keep_nothing(service):

    _name, token = service.user("alice")
    blob = os.urandom(8 * 1024**2)
    assert service.api("PUT", f"blobs/{hashlib.sha256(blob).hexdigest()}", token, data=blob).ok
    resp = service.api(
        "POST", "jobs", token, json={"project": "p", "kind": "command", "command": "x"}
    )
    assert resp.status_code == 413, resp.text
    assert "their whole storage quota of 8 MiB: a job could keep nothing" in resp.json()["error"]
