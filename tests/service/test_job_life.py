"""A job's life through the real runner on the fake backend: queue, run, keep, mount, stop."""

from __future__ import annotations

import time

from tests.service.fake_backend import FakeBackend
from tests.service.helpers import (
    assert_odd_output_kept,
    assert_swapped_folder_read_nothing_of_the_node,
    floe_fast,
    make_dataset,
    submit,
    until,
    wait_for,
)


def _mounts(job_name: str) -> dict[str, tuple[str, bool]]:
    spec = FakeBackend.made[job_name]
    return {m.target: (m.source, m.read_only) for m in spec.mounts}


def test_a_job_runs_keeps_its_output_and_the_next_job_mounts_it_floydhub_style(service):
    alice, token = service.user("alice")
    first = wait_for(service, token, submit(service, token, kind="command", command="train"))
    assert first["state"] == "complete", first
    assert [e["state"] for e in first["events"]] == [
        "created",
        "queued",
        "starting",
        "running",
        "complete",
    ]
    assert service.api("GET", f"jobs/{first['id']}/logs", token).text.startswith("ran: train")
    output = service.api("GET", f"jobs/{alice}/cats/1/output", token).json()
    assert [f["path"] for f in output["files"]] == ["out.txt"]
    assert service.api("GET", f"jobs/{first['id']}/output/files/out.txt", token).text == "train"
    metrics = service.api("GET", f"jobs/{first['id']}/metrics", token).json()
    assert metrics["last"] == {"step": 1, "loss": 0.5}

    # FloydHub's spelling: owner/projects/project/N/output, mounted at /input itself.
    second = submit(
        service,
        token,
        kind="command",
        command="read",
        datasets=[f"{alice}/projects/cats/1/output:input"],
    )
    assert second["datasets"][0]["source"] == f"{alice}/cats/1/output"
    assert second["datasets"][0]["target"] == "/input"
    assert wait_for(service, token, second)["state"] == "complete"
    source, read_only = _mounts(second["name"])["/input"]
    assert read_only and (service.data / "cache" / "trees" / output["tree"]).samefile(source)
    assert _mounts(second["name"])["/code"][1]  # the code, read-only too


def test_datasets_mount_by_either_spelling_and_pin_their_version(service):
    alice, token = service.user("alice")
    make_dataset(service, token, "mnist", {"train.csv": b"1,2"})
    job = submit(
        service,
        token,
        kind="command",
        command="x",
        datasets=[f"{alice}/datasets/mnist/1:digits", "mnist"],
    )
    assert [(d["source"], d["target"]) for d in job["datasets"]] == [
        (f"{alice}/mnist:1", "/input/digits"),
        (f"{alice}/mnist:1", "/input/mnist"),
    ]
    make_dataset_version = service.api(
        "POST", f"datasets/{alice}/mnist/versions", token, json={"manifest": []}
    )
    assert make_dataset_version.json()["number"] == 2
    rerun = service.api("POST", f"jobs/{job['id']}/rerun", token).json()
    assert [d["source"] for d in rerun["datasets"]] == [f"{alice}/mnist:1", f"{alice}/mnist:1"]


def test_how_a_job_ended_is_said_plainly(service):
    _alice, token = service.user("alice")
    failed = wait_for(service, token, submit(service, token, kind="command", command="exit 3"))
    assert (failed["state"], failed["reason"], failed["exit_code"]) == ("error", "exit 3", 3)
    oom = submit(service, token, kind="command", command="oom", machine="cpu-tiny")
    oom = wait_for(service, token, oom)
    assert (oom["state"], oom["reason"]) == ("error", "out of memory (limit 256 MiB)")


def test_pages_list_live_jobs_first_and_tell_the_job_page_which_states_are_final(service):
    alice, token = service.user("alice")
    done = wait_for(service, token, submit(service, token, kind="command", command="train"))
    failed = wait_for(service, token, submit(service, token, kind="command", command="exit 3"))
    sleep = submit(service, token, kind="command", command="sleep")
    running = wait_for(service, token, sleep, ("running",))
    page = service.page(f"projects/{alice}/cats?sort=state&order=asc", token).text
    links = [page.index(f'jobs/{job["id"]}"') for job in (running, failed, done)]
    assert links == sorted(links), "running, then error, then complete"
    script = service.page(f"jobs/{running['id']}", token).text
    assert '"finished": false, "finished_states": ["complete", "error", "stopped"]' in script
    service.api("POST", f"jobs/{running['id']}/stop", token)
    wait_for(service, token, running)


def test_stop_a_running_job(service):
    alice, token = service.user("alice")
    job = wait_for(
        service, token, submit(service, token, kind="command", command="sleep"), ("running",)
    )
    resp = service.api("POST", f"jobs/{job['id']}/stop", token)
    assert resp.status_code == 202, resp.text
    job = wait_for(service, token, job)
    assert (job["state"], job["reason"]) == ("stopped", f"stopped by {alice}")
    again = service.api("POST", f"jobs/{job['id']}/stop", token)
    assert again.status_code == 200 and again.json()["state"] == "stopped"


def test_a_gpu_job_on_a_node_without_a_driver_fails_and_gives_the_gpu_back(service):
    _alice, token = service.user("alice")
    job = wait_for(
        service, token, submit(service, token, kind="command", command="x", machine="gpu-1")
    )
    assert job["state"] == "error" and "no GPU driver" in job["reason"], job["reason"]
    assert service.api("GET", "catalog", token).json()["gpus"] == {"total": 3, "free": 3}


def test_a_snapshot_keeps_the_notebook_and_output_without_running(service):
    alice, token = service.user("alice")
    job = submit(service, token, kind="snapshot", name="work.ipynb")
    assert job["state"] == "complete" and job["reason"] == "saved from a workspace"
    output = service.api("GET", f"jobs/{job['id']}/output", token).json()
    assert [f["path"] for f in output["files"]] == ["work.ipynb"]
    resp = service.api("POST", f"jobs/{job['id']}/rerun", token)
    assert resp.status_code == 409 and "never re-run" in resp.json()["error"]
    assert job["name"] not in FakeBackend.made


def test_a_dataset_named_output_mounts_by_its_name(service):
    alice, token = service.user("alice")
    make_dataset(service, token, "output", {"x": b"1"})
    job = submit(
        service,
        token,
        kind="command",
        command="x",
        datasets=[f"{alice}/output", f"{alice}/datasets/output/1:again"],
    )
    assert [(d["source"], d["target"]) for d in job["datasets"]] == [
        (f"{alice}/output:1", "/input/output"),
        (f"{alice}/output:1", "/input/again"),
    ]


def test_file_names_of_any_language_download_as_attachments(service):
    alice, token = service.user("alice")
    make_dataset(service, token, "names", {"数据.csv": b"1,2", 'say "hi".txt': b"hi"})
    for path, fallback, encoded in (
        ("数据.csv", "__.csv", "%E6%95%B0%E6%8D%AE.csv"),
        ('say "hi".txt', "say _hi_.txt", "say%20%22hi%22.txt"),
    ):
        resp = service.api(
            "GET", f"datasets/{alice}/names/versions/1/files/{path}?download=1", token
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Disposition"] == (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
        )
    inline = service.api(
        "GET", f"datasets/{alice}/names/versions/1/files/数据.csv?download=", token
    )
    assert inline.status_code == 200 and "Content-Disposition" not in inline.headers


def test_a_job_that_swaps_its_output_for_a_link_to_the_nodes_files_gets_none_of_them(service):
    _alice, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, kind="command", command="root swap"))
    assert_swapped_folder_read_nothing_of_the_node(service, token, job)


def test_odd_files_in_output_are_skipped_and_listed_the_rest_is_kept(service):
    _alice, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, kind="command", command="odd output"))
    assert_odd_output_kept(service, token, job)
    # The command line prints a name as escapes, never as what it would do to a terminal.
    listing = floe_fast(service, token, "output", str(job["id"]))
    assert "esc\\x1b[2Jape" in listing.stdout and "\x1b" not in listing.stdout
    assert not (service.data / "jobs" / str(job["id"]) / "output").exists()


def test_a_users_share_of_the_node_and_the_queue(service):
    alice, token = service.user("alice")
    _bob, bob_token = service.user("bob")
    first, second, third = (submit(service, token, kind="command", command="sleep") for _ in "123")
    wait_for(service, token, first, ("running",))
    wait_for(service, token, second, ("running",))
    waiting = wait_for(service, token, third, ("queued",))
    deadline = time.monotonic() + 10
    while "the most one user may run" not in waiting["reason"] and time.monotonic() < deadline:
        time.sleep(0.05)
        waiting = service.api("GET", f"jobs/{third['id']}", token).json()
    assert waiting["state"] == "queued"
    assert waiting["reason"] == f"waiting: {alice} has 2 job(s) running, the most one user may run"
    # Bob's first job is not held up behind alice's.
    theirs = submit(service, bob_token, kind="command", command="x")
    assert wait_for(service, bob_token, theirs)["state"] == "complete"
    # Alice may keep 5 waiting at most; past that a submit is refused, and says so.
    more = [submit(service, token, kind="command", command="x") for _ in range(4)]
    resp = service.api(
        "POST", "jobs", token, json={"project": "p", "kind": "command", "command": "x"}
    )
    assert resp.status_code == 429 and "the most one user may queue" in resp.json()["error"]
    for job in (first, second, third, *more):
        service.api("POST", f"jobs/{job['id']}/stop", token)
    assert wait_for(service, token, third)["state"] in ("stopped", "complete")


def test_a_job_past_its_maximum_runtime_is_stopped_and_says_why(service):
    _alice, token = service.user("alice")
    job = submit(service, token, kind="command", command="sleep", max_runtime=1)
    assert job["max_runtime"] == 1
    job = wait_for(service, token, job)
    assert (job["state"], job["reason"]) == ("stopped", "stopped by its maximum runtime of 1 s")
    body = {"project": "p", "kind": "command", "command": "x", "max_runtime": 7200}
    resp = service.api("POST", "jobs", token, json=body)
    assert resp.status_code == 400 and resp.json()["field"] == "max_runtime"
    assert "at most 1 h (3600 s) here" in resp.json()["error"]
    default = submit(service, token, kind="command", command="x")
    assert default["max_runtime"] == 3600  # the deployer's default, capped by the ceiling


def test_floe_run_takes_floydhubs_max_runtime(service, tmp_path):
    _alice, token = service.user("alice")
    (tmp_path / ".floe").write_text('{"project": "cats"}\n')
    run = floe_fast(service, token, "run", "--max-runtime", "1", "-f", "sleep", cwd=tmp_path)
    assert run.returncode == 143  # the exit code of the stopped job (SIGTERM)
    assert "stopped by its maximum runtime of 1 s" in run.stderr, run.stderr
    bad = floe_fast(service, token, "run", "--max-runtime", "soon", "sleep", cwd=tmp_path)
    assert bad.returncode == 2 and "is not a duration like 3600, 90m or 2h" in bad.stderr


def test_submits_in_parallel_never_pass_a_users_share_of_the_queue(service):
    from concurrent.futures import ThreadPoolExecutor

    _carol, token = service.user("carol")
    body = {"project": "burst", "kind": "command", "command": "sleep"}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: service.api("POST", "jobs", token, json=body), range(24)))
    accepted = [r.json() for r in answers if r.status_code == 201]
    assert {r.status_code for r in answers} <= {201, 429}
    # 2 may run and 5 wait (the fast tier's shares); nothing else gets in while they sleep.
    assert 5 <= len(accepted) <= 7, len(accepted)
    for job in accepted:
        service.api("POST", f"jobs/{job['id']}/stop", token)
    for job in accepted:
        wait_for(service, token, job)


def test_a_full_queue_refuses_a_submit_a_rerun_and_a_scheduled_run_alike(service):
    _erin, token = service.user("erin")
    running = [submit(service, token, kind="command", command="sleep") for _ in range(2)]
    for job in running:
        wait_for(service, token, job, ("running",))  # their share: the rest wait
    body = {"project": "cats", "kind": "command", "command": "sleep"}
    waiting = []
    while (resp := service.api("POST", "jobs", token, json=body)).status_code == 201:
        waiting.append(resp.json())
    full = "you have 5 jobs waiting and 5 is the most one user may queue"
    assert (resp.status_code, len(waiting)) == (429, 5) and full in resp.json()["error"]
    rerun = service.api("POST", f"jobs/{running[0]['id']}/rerun", token)
    assert rerun.status_code == 429 and full in rerun.json()["error"]
    made = service.api("POST", "schedules", token, json={**body, "cron": "@every 1s"})
    path = f"schedules/{made.json()['id']}"
    assert full in until(lambda: service.api("GET", path, token).json()["last_error"])
    service.api("DELETE", path, token)
    for job in running + waiting:
        service.api("POST", f"jobs/{job['id']}/stop", token)
    for job in running + waiting:
        wait_for(service, token, job)


def test_a_job_whose_log_became_a_fifo_still_ends_and_keeps_its_output(service):
    _alice, token = service.user("alice")
    job = wait_for(service, token, submit(service, token, kind="command", command="fifo log"))
    assert job["state"] == "complete", job["reason"]  # nothing waited on the fifo
    assert service.api("GET", f"jobs/{job['id']}/output", token).status_code == 200
