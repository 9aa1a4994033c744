"""Deleting on the real platform, through the command line: a version a job mounted is kept
until the job goes; then the version goes, then the dataset (the blobs they alone named are
collected: `tests/service/test_deletion.py` shows that part)."""

from __future__ import annotations

import pytest

from tests.floe_cli import floe

pytestmark = pytest.mark.integration


def test_delete_is_refused_while_a_job_uses_a_version_then_goes(hub, user_token, tmp_path):
    name, token = user_token("tidy")
    data = tmp_path / "notes"
    data.mkdir()
    (data / "a.txt").write_text("kept until nothing needs it")
    assert floe(hub, token, "data", "init", "notes", cwd=data).returncode == 0
    assert floe(hub, token, "data", "upload", cwd=data).returncode == 0
    project = tmp_path / "project"
    project.mkdir()
    assert floe(hub, token, "init", "reader", cwd=project).returncode == 0
    ran = floe(hub, token, "run", "--data", "notes:1", "-f", "cat /input/notes/a.txt", cwd=project)
    assert ran.returncode == 0 and "kept until nothing needs it" in ran.stdout, ran.stderr
    job = hub.floe("GET", "jobs?project=reader", token).json()[0]

    refused = floe(hub, token, "data", "delete", "notes:1", "--yes", cwd=project)
    assert refused.returncode == 2 and f"job {job['name']}" in refused.stderr
    info = floe(hub, token, "info", job["name"], cwd=project)
    assert f"{name}/notes:1" in info.stdout

    deleted = floe(hub, token, "delete", job["name"], "--yes", cwd=project)
    assert deleted.returncode == 0 and f"{job['name']} deleted" in deleted.stdout, deleted.stderr
    assert hub.floe("GET", f"jobs/{job['id']}", token).status_code == 404
    dropped = floe(hub, token, "data", "delete", "notes:1", "--yes", cwd=project)
    assert dropped.returncode == 0 and f"{name}/notes:1 deleted" in dropped.stdout
    versions = hub.floe("GET", f"datasets/{name}/notes", token).json()["versions"]
    assert versions == []
    gone = floe(hub, token, "data", "delete", "notes", "--yes", cwd=project)
    assert (
        gone.returncode == 0 and hub.floe("GET", f"datasets/{name}/notes", token).status_code == 404
    )
