"""Tasks: a sweep over a grid of parameters is one job per combination, run at most
``parallel`` at once, compared on the task's page and by ``floe task status``; stopped
together; refused clearly when too large, malformed or someone else's."""

from __future__ import annotations

import re
import time

from tests.service.helpers import floe_fast

GRID = {"lr": [0.1, 0.01], "bs": [32, 64]}


def wait_task(service, token: str, task: dict, states=("complete", "error", "stopped")) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = service.api("GET", f"tasks/{task['id']}", token).json()
        if task["state"] in states:
            return task
        time.sleep(0.05)
    raise TimeoutError(f"{task['name']} never reached {states}: {task}")


def sweep(service, token: str, **body) -> dict:
    request = {"project": "sweeps", "kind": "command", "command": "score", **body}
    resp = service.api("POST", "tasks", token, json=request)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_a_grid_runs_one_job_per_combination_at_most_parallel_at_once(service):
    name, token = service.user("sweeper")
    task = sweep(service, token, sweep=GRID, parallel=1, parameters={"epochs": 3})
    assert task["name"] == f"{name}/sweeps/task/1" and task["job_count"] == 4
    assert [j["parameters"] for j in task["jobs"]] == [
        {"epochs": 3, "lr": 0.1, "bs": 32},
        {"epochs": 3, "lr": 0.1, "bs": 64},
        {"epochs": 3, "lr": 0.01, "bs": 32},
        {"epochs": 3, "lr": 0.01, "bs": 64},
    ]
    task = wait_task(service, token, task)
    assert task["state"] == "complete" and task["counts"] == {"complete": 4}
    # One at a time: each job started once the one before it had finished.
    jobs = sorted(task["jobs"], key=lambda j: j["started"])
    for before, after in zip(jobs, jobs[1:], strict=False):
        assert after["started"] >= before["finished"], (before, after)
    # The best per metric: the lowest loss, the highest accuracy (both lr=0.01, bs=32).
    winner = task["jobs"][2]
    assert task["best"]["loss"] == {
        "goal": "min",
        "job": winner["name"],
        "job_id": winner["id"],
        "value": 0.42,
    }
    assert task["best"]["acc"]["goal"] == "max" and task["best"]["acc"]["job_id"] == winner["id"]
    # Each is an ordinary job that knows its task.
    job = service.api("GET", f"jobs/{winner['id']}", token).json()
    assert job["task"] == task["name"] and job["command"] == "score"
    assert service.api("GET", f"tasks/{name}/sweeps/task/1", token).json()["id"] == task["id"]
    listed = service.api("GET", "tasks?project=sweeps", token).json()
    assert [t["name"] for t in listed] == [task["name"]] and "jobs" not in listed[0]

    # The page: ranked best first by the first metric, the best marked, sortable by a parameter.
    page = service.page(f"tasks/{task['id']}", token)
    assert page.status_code == 200
    order = re.findall(r'<tr data-job="([^"]+)"', page.text)
    assert order[0] == winner["name"]  # acc, highest first
    assert page.text.count("★") == 2 and 'id="task-chart"' in page.text
    by_lr = service.page(f"tasks/{task['id']}?sort=param:lr&order=desc", token)
    assert re.findall(r'<tr data-job="([^"]+)"', by_lr.text)[:2] == [
        task["jobs"][0]["name"],
        task["jobs"][1]["name"],
    ]
    by_loss = service.page(f"tasks/{task['id']}?sort=metric:loss", token)
    assert re.findall(r'<tr data-job="([^"]+)"', by_loss.text)[0] == winner["name"]
    assert service.page(f"tasks/{task['id']}?sort=nonsense", token).status_code == 400
    assert (
        f'href="/services/floe/tasks/{task["id"]}"'
        in service.page(f"jobs/{winner['id']}", token).text
    )
    assert task["name"] in service.page(f"projects/{name}/sweeps", token).text

    # Another user sees none of it.
    _other, other_token = service.user("nosy")
    for path in (f"tasks/{task['id']}", f"tasks/{name}/sweeps/task/1"):
        assert service.api("GET", path, other_token).status_code == 404
    assert service.api("POST", f"tasks/{task['id']}/stop", other_token).status_code == 404
    assert service.page(f"tasks/{task['id']}", other_token).status_code == 404
    assert service.api("GET", "tasks", other_token).json() == []


def test_stopping_a_task_stops_its_running_and_queued_jobs(service):
    name, token = service.user("stopper")
    task = sweep(service, token, sweep={"hold": [1, 2, 3]}, parallel=1)
    wait_task(service, token, task, states=("running",))
    waiting = service.api("GET", f"tasks/{task['id']}", token).json()
    held = [j for j in waiting["jobs"] if j["state"] == "queued"]
    assert len(held) == 2
    # The queue notes why a job waits just after it starts the one before it.
    deadline = time.monotonic() + 30
    reason = ""
    while "its task runs 1 job(s) at once" not in reason and time.monotonic() < deadline:
        reason = service.api("GET", f"jobs/{held[0]['id']}", token).json()["reason"]
        time.sleep(0.05)
    assert "its task runs 1 job(s) at once" in reason
    resp = service.api("POST", f"tasks/{task['id']}/stop", token)
    assert resp.status_code == 202
    task = wait_task(service, token, task)
    assert task["state"] == "stopped" and task["counts"] == {"stopped": 3}
    assert task["stop_requested_by"] == name


def test_bad_sweeps_are_refused_and_make_nothing(service):
    _name, token = service.user("badsweep")

    def refused(status: int, words: str, **body) -> None:
        request = {"project": "bad", "kind": "command", "command": "score", **body}
        resp = service.api("POST", "tasks", token, json=request)
        assert resp.status_code == status, resp.text
        assert words in resp.json()["error"], resp.json()

    refused(400, "sweep", parameters={"lr": 1})  # no sweep at all
    refused(400, "non-empty list", sweep={"lr": []})
    refused(400, "sweep", sweep={"lr": 0.1})
    refused(400, "not a Python variable name", sweep={"learning rate": [1, 2]})
    refused(400, "a task runs at most 100", sweep={"a": list(range(11)), "b": list(range(10))})
    refused(400, "random: from 1 to 100", sweep={"a": [1, 2]}, random=101)
    refused(400, "serving jobs", sweep={"a": [1, 2]}, mode="serve")
    refused(400, "parallel", sweep={"a": [1, 2]}, parallel=0)
    refused(400, "goals", sweep={"a": [1, 2]}, goals={"loss": "lowest"})
    # Parameters are copied into every job: big values belong in a dataset.
    refused(400, "at most 65536", sweep={"a": [1, 2]}, parameters={"big": "x" * 70_000})
    refused(400, "at most 65536", sweep={"a": ["x" * 70_000, "y"]})
    # Six jobs would pass the five one user may queue here.
    refused(429, "6 more would pass it", sweep={"a": [1, 2, 3], "b": [1, 2]})
    assert service.api("GET", "tasks", token).json() == []
    assert service.api("GET", "jobs", token).json() == []


def test_random_draws_distinct_combinations(service):
    _name, token = service.user("sampler")
    grid = {"lr": list(range(10)), "bs": list(range(10)), "seed": list(range(50))}
    task = sweep(service, token, sweep=grid, random=3)
    combos = [tuple(j["parameters"][k] for k in grid) for j in task["jobs"]]
    assert len(combos) == 3 and len(set(combos)) == 3 and task["random"] == 3
    service.api("POST", f"tasks/{task['id']}/stop", token)
    wait_task(service, token, task)


def test_floe_run_sweeps_and_floe_task_compares_and_stops(service, tmp_path):
    _name, token = service.user("clisweep")

    def floe(*args):
        return floe_fast(service, token, *args, cwd=tmp_path)

    assert floe("init", "cli").returncode == 0
    run = floe("run", "--param", "lr=0.1,0.01", "--param", "bs=32,64", "--parallel", "2", "score")
    assert run.returncode == 0, run.stderr
    assert "cli/task/1" in run.stdout and "4 jobs sweeping lr (2) × bs (2)" in run.stdout
    task = service.api("GET", "tasks?project=cli", token).json()[0]
    assert task["parallel"] == 2
    wait_task(service, token, task)
    status = floe("task", "status", "1")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert "loss(min)" in lines[1] and "acc(max)" in lines[1]
    best = [line for line in lines if " *" in line]
    assert len(best) == 1 and best[0].count(" *") == 2  # the best loss and the best acc
    assert "0.01" in best[0] and "32" in best[0]
    assert "cli/task/1" in floe("task", "status").stdout

    # A literal list or an escaped comma is one value; --random samples; --follow waits.
    one = floe("run", "--param", "layers=[64,32]", "--param", "name=a\\,b", "score")
    assert one.returncode == 0 and "task" not in one.stdout
    job = service.api("GET", "jobs?project=cli&limit=1", token).json()[0]
    assert job["parameters"] == {"layers": [64, 32], "name": "a,b"}
    sampled = floe("run", "--param", "lr=1,2,3", "--random", "2", "--follow", "score")
    assert sampled.returncode == 0, sampled.stderr
    assert "2 jobs sweeping lr (3), 2 drawn at random" in sampled.stdout
    assert sampled.stdout.count(" complete") >= 2

    held = floe("run", "--param", "hold=1,2", "--parallel", "1", "score")
    assert held.returncode == 0, held.stderr
    stop = floe("task", "stop", "cli/task/3")
    assert stop.returncode == 0 and "cli/task/3" in stop.stdout, stop.stderr

    assert floe("run", "--random", "2", "score").returncode == 2  # no sweep to sample
    rerun = floe("rerun", str(job["number"]), "--param", "lr=1,2")
    assert rerun.returncode == 2 and "sweeps" in rerun.stderr
