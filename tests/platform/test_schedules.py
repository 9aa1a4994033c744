"""Schedules on the real platform: `floe schedule add` runs a container at each time, and the
schedule goes on after the floe service is killed and started again by the hub."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from tests.floe_cli import floe

pytestmark = pytest.mark.integration


def wait_until(check, timeout: float = 120, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except requests.ConnectionError:
            found = None  # the service is starting again
        if found:
            return found
        assert time.monotonic() < deadline, "never happened"
        time.sleep(every)


def test_a_schedule_fires_and_survives_a_service_restart(hub, user_token, tmp_path):
    name, token = user_token("cron")
    assert floe(hub, token, "init", "ticks", cwd=tmp_path).returncode == 0
    added = floe(hub, token, "schedule", "add", "@every 3s", "echo tick", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    schedule = hub.floe("GET", "schedules", token).json()[0]

    def ticks() -> list[dict] | None:
        resp = hub.floe("GET", "jobs?project=ticks", token, timeout=10)
        if resp.status_code != 200:
            return None  # the service is starting again (the proxy answers 503)
        return [j for j in resp.json() if j["schedule"] == schedule["id"]]

    try:
        first = wait_until(lambda: [j for j in ticks() or () if j["state"] == "complete"])[0]
        log = hub.floe("GET", f"jobs/{first['id']}/logs", token).text
        assert "tick" in log

        pid = int((hub.data_dir / "floe-service.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        time.sleep(1)
        before = {j["id"] for j in wait_until(ticks)}
        # Runs after the restart: the schedule was kept, and it goes on by itself.
        after = wait_until(lambda: [j for j in ticks() or () if j["id"] not in before], 180)
        assert after and int((hub.data_dir / "floe-service.pid").read_text()) != pid

        listed = floe(hub, token, "schedule", "ls", cwd=tmp_path)
        assert "'@every 3s'" in listed.stdout and "runs" in listed.stdout
    finally:  # no schedule left firing for the tests after this one
        wait_until(lambda: hub.floe("GET", "schedules", token).status_code == 200)
        hub.floe("DELETE", f"schedules/{schedule['id']}", token)
    assert hub.floe("GET", f"schedules/{schedule['id']}", token).status_code == 404
    assert first["name"].startswith(f"{name}/ticks/")
