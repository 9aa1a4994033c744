"""Jobs through the real floe service: notebooks and commands run as containers, end to end."""

from __future__ import annotations

import os
import signal
import time

import docker
import pytest
import requests

from containers.catalog import WORKSPACE_IMAGE
from tests.conftest import FAKE_GPUS
from tests.notebooks import notebook

pytestmark = pytest.mark.integration

JOB_TIMEOUT = 180


def submit(hub, token, **body):
    resp = hub.floe("POST", "jobs", token, json={"project": "cats", **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


def wait_for(hub, token, job, states=("complete", "error", "stopped"), timeout=JOB_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            model = hub.floe("GET", f"jobs/{job['id']}", token).json()
        except (requests.ConnectionError, ValueError):
            model = {}  # the service is restarting
        if model.get("state") in states:
            return model
        time.sleep(0.3)
    raise TimeoutError(f"job {job['name']} not in {states} after {timeout} s: {model}")


def log_of(hub, token, job) -> str:
    return hub.floe("GET", f"jobs/{job['id']}/logs", token).text


def test_notebook_job_injects_parameters_streams_log_keeps_output_and_next_job_mounts_it(
    hub, user_token
):
    name, token = user_token("alice")
    nb = notebook(
        'import json\nprint("lr is", lr)\nprint(json.dumps({"step": 1, "loss": 0.5}))',
        'open("/output/model.txt", "w").write(f"lr={lr}")\n'
        'print(json.dumps({"step": 2, "loss": lr / 4}))',
        "import time\ntime.sleep(3)\nprint('done')",
        parameters="lr = 0.5",
    )
    job = submit(
        hub,
        token,
        kind="notebook",
        name="train.ipynb",
        notebook=nb,
        parameters={"lr": 0.1},
        message="first try",
    )
    assert job["name"] == f"{name}/cats/1"
    assert job["state"] == "queued" and job["url"].endswith(f"/jobs/{job['id']}")

    # The followed log shows the first cell's output while the job still runs.
    seen_running = False
    with hub.floe(
        "GET",
        f"jobs/{job['id']}/logs",
        token,
        params={"follow": 1},
        stream=True,
        timeout=JOB_TIMEOUT,
    ) as resp:
        text = ""
        for chunk in resp.iter_content(None):
            text += chunk.decode()
            if "lr is 0.1" in text and not seen_running:
                state = hub.floe("GET", f"jobs/{job['id']}", token).json()["state"]
                seen_running = state == "running"
    assert seen_running, text
    assert "[cell 2]" in text and "done" in text

    done = hub.floe("GET", f"jobs/{job['id']}", token).json()
    assert done["state"] == "complete", done
    assert [e["state"] for e in done["events"]] == [
        "created",
        "queued",
        "starting",
        "running",
        "complete",
    ]
    assert done["image_digest"].startswith("sha256:")
    metrics = hub.floe("GET", f"jobs/{job['id']}/metrics", token).json()
    assert [m["values"] for m in metrics["metrics"]] == [
        {"step": 1, "loss": 0.5},
        {"step": 2, "loss": 0.025},
    ]
    assert metrics["last"] == {"step": 2, "loss": 0.025}

    output = hub.floe("GET", f"jobs/{job['id']}/output", token).json()
    assert {f["path"] for f in output["files"]} == {"model.txt", "train.ipynb"}
    model = hub.floe("GET", f"jobs/{job['id']}/output/files/model.txt", token)
    assert model.text == "lr=0.1"
    executed = hub.floe("GET", f"jobs/{job['id']}/output/files/train.ipynb", token).json()
    printed = "".join(
        "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
    )
    assert "lr is 0.1" in printed

    # The output, mounted read-only into the next job, by name.
    second = submit(
        hub,
        token,
        kind="command",
        command="cat /input/prev/model.txt; touch /input/prev/x || echo read-only",
        datasets=[f"{name}/cats/1/output:/input/prev"],
    )
    assert second["datasets"][0]["source"] == f"{name}/cats/1/output"
    second = wait_for(hub, token, second)
    assert second["state"] == "complete", second
    log = log_of(hub, token, second)
    assert "lr=0.1" in log and "Read-only file system" in log and "read-only" in log

    # Re-run with a changed parameter: same code, a new number.
    rerun = hub.floe("POST", f"jobs/{name}/cats/1/rerun", token, json={"parameters": {"lr": 2}})
    assert rerun.status_code == 201, rerun.text
    rerun = wait_for(hub, token, rerun.json())
    assert rerun["name"] == f"{name}/cats/3" and rerun["parameters"] == {"lr": 2}
    assert rerun["code_tree"] == done["code_tree"]
    assert hub.floe("GET", f"jobs/{rerun['id']}/output/files/model.txt", token).text == "lr=2"

    # The pages: the project's jobs sorted by a metric, a job with its log, chart and notebook.
    pages = requests.Session()
    pages.headers["Authorization"] = f"token {token}"
    base = f"{hub.url}/services/floe/"
    for order, first, last in (("asc", "#1<", "#3<"), ("desc", "#3<", "#1<")):
        page = pages.get(f"{base}projects/{name}/cats?sort=metric:loss&order={order}", timeout=30)
        assert page.status_code == 200 and ">loss" in page.text
        assert page.text.index(first) < page.text.index(last), order
    page = pages.get(f"{base}jobs/{job['id']}", timeout=30).text
    for fragment in ("model.txt", "chart.umd.js", 'id="notebook"', "first try", "0.1", "sha256:"):
        assert fragment in page, fragment
    assert pages.get(f"{base}static/vendor/chart.umd.js", timeout=30).status_code == 200
    rendered = pages.get(f"{base}jobs/{job['id']}/notebook", timeout=60)
    assert rendered.status_code == 200 and "lr is 0.1" in rendered.text
    assert "sandbox" in rendered.headers["Content-Security-Policy"]
    again = pages.post(f"{base}jobs/{job['id']}/rerun", allow_redirects=False, timeout=30)
    assert again.status_code == 302 and "/services/floe/jobs/" in again.headers["Location"]
    wait_for(hub, token, {"id": again.headers["Location"].rsplit("/", 1)[1], "name": "rerun"})


def test_failing_cell_is_an_error_naming_the_cell(hub, user_token):
    _name, token = user_token("alice")
    job = submit(
        hub,
        token,
        kind="notebook",
        name="bad.ipynb",
        notebook=notebook("print('fine')", "1 / 0", "print('never')"),
    )
    job = wait_for(hub, token, job)
    assert job["state"] == "error"
    assert "cell 2" in job["reason"] and "ZeroDivisionError" in job["reason"], job["reason"]
    log = log_of(hub, token, job)
    assert "fine" in log and "never" not in log
    # The executed notebook is kept, error and all.
    kept = hub.floe("GET", f"jobs/{job['id']}/output/files/bad.ipynb", token).json()
    assert kept["cells"][1]["outputs"][0]["ename"] == "ZeroDivisionError"


def test_job_over_its_memory_limit_is_out_of_memory(hub, user_token):
    _name, token = user_token("alice")
    job = submit(
        hub,
        token,
        kind="command",
        machine="cpu-tiny",
        command="python3 -c 'x = b\"x\" * (1 << 30)'",
    )
    job = wait_for(hub, token, job)
    assert job["state"] == "error"
    assert "out of memory" in job["reason"] and "256 MiB" in job["reason"], job["reason"]


def test_stop_a_running_job(hub, user_token):
    name, token = user_token("alice")
    job = submit(hub, token, kind="command", command="echo started; sleep 300")
    deadline = time.monotonic() + JOB_TIMEOUT
    while "started" not in log_of(hub, token, job):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.3)
    resp = hub.floe("POST", f"jobs/{job['id']}/stop", token)
    assert resp.status_code == 202, resp.text
    job = wait_for(hub, token, job, timeout=60)
    assert (job["state"], job["reason"]) == ("stopped", f"stopped by {name}")


def test_python_prints_reach_the_log_while_the_job_runs(hub, user_token):
    _name, token = user_token("alice")
    # A plain print, no flush: Python block-buffers a pipe or file; Floe flushes it for it.
    job = submit(
        hub,
        token,
        kind="command",
        command="python3 -c \"import time; print('epoch 1 done'); time.sleep(300)\"",
    )
    deadline = time.monotonic() + 60
    while "epoch 1 done" not in log_of(hub, token, job):
        assert time.monotonic() < deadline, "the print never reached the log"
        time.sleep(0.3)
    assert hub.floe("GET", f"jobs/{job['id']}", token).json()["state"] == "running"
    hub.floe("POST", f"jobs/{job['id']}/stop", token)
    assert wait_for(hub, token, job, timeout=60)["state"] == "stopped"


def test_service_restart_while_a_job_runs_loses_no_log_line_and_no_output(hub, user_token):
    _name, token = user_token("alice")
    job = submit(
        hub,
        token,
        kind="command",
        command="for i in $(seq 1 60); do echo line $i; sleep 0.1; done; "
        "echo kept > /output/done.txt; echo '{\"lines\": 60}'",
    )
    deadline = time.monotonic() + JOB_TIMEOUT
    while "line 5\n" not in log_of(hub, token, job):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    pid = int((hub.data_dir / "floe-service.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # JupyterHub starts its managed service again

    job = wait_for(hub, token, job)
    assert job["state"] == "complete", job
    lines = log_of(hub, token, job).splitlines()
    assert [line for line in lines if line.startswith("line ")] == [
        f"line {i}" for i in range(1, 61)
    ]
    assert hub.floe("GET", f"jobs/{job['id']}/output/files/done.txt", token).text == "kept\n"
    metrics = hub.floe("GET", f"jobs/{job['id']}/metrics", token).json()["metrics"]
    assert [m["values"] for m in metrics] == [{"lines": 60}]


def test_a_finished_jobs_log_is_kept_in_the_blob_store_and_outlives_the_node_copy(hub, user_token):
    _name, token = user_token("alice")
    job = submit(hub, token, kind="command", command="for i in 1 2 3; do echo step $i; done")
    job = wait_for(hub, token, job)
    assert job["state"] == "complete", job
    whole = log_of(hub, token, job)
    assert "step 1\nstep 2\nstep 3\n" in whole

    # The node's job folder is gone (another node serves the API, or its disk was cleaned).
    (hub.data_dir / "jobs" / str(job["id"]) / "log").unlink()
    assert log_of(hub, token, job) == whole
    offset = whole.encode().index(b"step 2")  # offsets count bytes
    tail = hub.floe("GET", f"jobs/{job['id']}/logs?offset={offset}&follow=1", token).content
    assert tail == whole.encode()[offset:]


def test_a_job_cannot_turn_its_log_into_a_link_to_a_host_file(hub, user_token):
    _name, token = user_token("mallory")
    job = submit(
        hub,
        token,
        kind="command",
        command="ln -sf /etc/shadow /floe-job/log 2>&1 || echo refused; "
        "ln -sf /etc/shadow /floe-job/result.json 2>&1 || echo refused again; exit 1",
    )
    job = wait_for(hub, token, job)
    log = log_of(hub, token, job)
    assert "refused" in log and "refused again" in log and "root:" not in log
    assert job["reason"] == "exit 1"


def test_gpu_job_waits_queued_while_the_gpu_is_taken(hub, user_token):
    _name, token = user_token("alice")
    # Something else holds the node's only GPU (as a GPU workspace's container would).
    holder = docker.from_env().containers.run(
        WORKSPACE_IMAGE,
        ["sleep", "120"],
        name=f"{hub.instance}-job-gpu-holder",
        labels={"floe.gpus": FAKE_GPUS},
        detach=True,
    )
    try:
        job = submit(hub, token, kind="command", command="true", machine="gpu-1")
        time.sleep(5)
        queued = hub.floe("GET", f"jobs/{job['id']}", token).json()
        assert queued["state"] == "queued", queued
        assert "waiting for a GPU" in queued["reason"] and "0 of 1" in queued["reason"]
        # Every picker says so: the job dialog's catalog and the workspace spawn form.
        assert hub.floe("GET", "catalog", token).json()["gpus"] == {"total": 1, "free": 0}
        admin = hub.login_session("admin", hub.admin_password)
        form = admin.get(f"{hub.url}/hub/spawn", timeout=30)
        assert "0 of 1 GPUs free." in form.text
    finally:
        holder.remove(force=True)
    # Once the GPU is free the job starts (and fails here, where the engine has no driver).
    job = wait_for(hub, token, job)
    assert [e["state"] for e in job["events"]][-3:] == ["queued", "starting", "error"]


def test_gpu_job_without_a_gpu_driver_fails_with_a_clear_reason(hub, user_token):
    _name, token = user_token("alice")
    job = submit(hub, token, kind="command", command="nvidia-smi", machine="gpu-1")
    job = wait_for(hub, token, job)
    assert job["state"] == "error" and "no GPU driver" in job["reason"], job["reason"]
    catalog = hub.floe("GET", "catalog", token).json()
    assert catalog["gpus"] == {"total": 1, "free": 1}  # given back after the failure
    assert "cpu-tiny" in [m["slug"] for m in catalog["machines"]]
