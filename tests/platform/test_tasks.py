"""Tasks on the real platform: `floe run` with a 2×2 sweep runs four containers, two at a
time, each an ordinary job with its output; `floe task status` and the task's page rank
them by their loss."""

from __future__ import annotations

import re

import pytest
import requests

from tests.floe_cli import floe

pytestmark = pytest.mark.integration

TRAIN = """\
import json, os
p = json.loads(os.environ["FLOE_PARAMETERS"])
loss = round(p["lr"] * 10 + p["bs"] / 100, 4)
print(json.dumps({"step": 1, "loss": loss}))
open("/output/loss.txt", "w").write(str(loss))
"""


def test_a_two_by_two_sweep_ranked_by_its_loss(hub, user_token, tmp_path):
    name, token = user_token("sweeper")
    (tmp_path / "train.py").write_text(TRAIN)
    assert floe(hub, token, "init", "sweep", cwd=tmp_path).returncode == 0
    run = floe(
        hub,
        token,
        *("run", "--param", "lr=0.1,0.01", "--param", "bs=32,64", "--parallel", "2", "-f"),
        "python3 train.py",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{name}/sweep/task/1" in run.stdout and "at most 2 at once" in run.stdout
    best = [line for line in run.stdout.splitlines() if " *" in line]
    assert len(best) == 1 and f"{name}/sweep/3" in best[0], run.stdout  # lr=0.01, bs=32

    task = hub.floe("GET", f"tasks/{name}/sweep/task/1", token).json()
    assert task["state"] == "complete" and task["counts"] == {"complete": 4}
    by_loss = sorted(task["jobs"], key=lambda j: j["metrics"]["loss"])
    assert by_loss[0]["parameters"] == {"lr": 0.01, "bs": 32}
    assert task["best"]["loss"]["job"] == by_loss[0]["name"]
    output = hub.floe("GET", f"jobs/{by_loss[0]['id']}/output", token).json()
    assert [f["path"] for f in output["files"]] == ["loss.txt"]

    page = requests.get(
        f"{hub.url}/services/floe/tasks/{task['id']}?sort=metric:loss",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert page.status_code == 200
    assert re.findall(r'<tr data-job="([^"]+)"', page.text) == [j["name"] for j in by_loss]
    status = floe(hub, token, "task", "status", "1", cwd=tmp_path)
    assert status.returncode == 0 and "loss(min)" in status.stdout, status.stderr
