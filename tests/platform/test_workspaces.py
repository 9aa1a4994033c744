"""A user's workspace on the real Docker engine, driven through the hub's REST API and proxy."""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest
import requests
import websocket

from tests.conftest import HOME_DISK_BYTES
from tests.terminal import admin_auth, run_in_terminal, ws_url

pytestmark = pytest.mark.integration


def _container(hub, username):
    client = docker.from_env()
    return client.containers.get(f"{hub.instance}-workspace-{username}")


def assert_left_nothing_running(hub, username):
    with pytest.raises(docker.errors.NotFound):
        _container(hub, username)
    assert hub.api("GET", f"/users/{username}").json()["servers"] == {}


def _execute_in_kernel(hub, username, code):
    resp = requests.post(
        hub.user_url(username, "api/kernels"), headers=admin_auth(hub), json={}, timeout=60
    )
    assert resp.status_code == 201, resp.text
    kernel_id = resp.json()["id"]
    ws = websocket.create_connection(
        ws_url(hub, username, f"api/kernels/{kernel_id}/channels"),
        header=admin_auth(hub),
        timeout=90,
    )
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": username,
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False},
            }
        )
    )
    out = ""
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            if msg["msg_type"] == "error":
                raise AssertionError(f"kernel error: {msg['content']}")
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return out
        raise AssertionError(f"kernel never went idle; output so far {out!r}")
    finally:
        ws.close()


def test_unknown_machine_is_refused_with_the_valid_ones(hub, new_user):
    name = new_user("picky")
    resp = hub.api("POST", f"/users/{name}/server", json={"machine": "huge"})
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "unknown machine 'huge'; valid machines: cpu-small, cpu-large, gpu-1, cpu-tiny"
    )
    resp = hub.api("POST", f"/users/{name}/server", json={"environment": "matlab"})
    assert resp.status_code == 400
    valid = "valid environments: python, datascience, pytorch, broken, greet"
    assert valid in resp.json()["message"]
    assert hub.api("GET", f"/users/{name}").json()["servers"] == {}


def test_workspace_runs_jupyter_with_terminal_and_kernel_as_jovyan_within_limits(hub, new_user):
    name = new_user("alice")
    resp = hub.spawn(name, {"environment": "python", "machine": "cpu-small"})
    assert resp.status_code in (201, 202), resp.text

    status = requests.get(hub.user_url(name, "api/status"), headers=admin_auth(hub), timeout=30)
    assert status.status_code == 200
    assert "kernels" in status.json()

    seen = run_in_terminal(
        hub, name, "echo floe-$((6*7))-$(id -un)-$(id -u)", "floe-42-jovyan-1000"
    )
    assert "floe-42-jovyan-1000" in seen

    out = _execute_in_kernel(hub, name, "import os; print(os.getuid(), 6 * 7)")
    assert out.strip() == "1000 42"

    container = _container(hub, name)
    assert container.exec_run("id -u").output.decode().strip() == "1000"
    host = container.attrs["HostConfig"]
    assert host["Memory"] == 2 * 1024**3
    assert host["CpuQuota"] == host["CpuPeriod"]  # 1 CPU
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    labels = container.labels
    assert labels["floe.user"] == name
    assert labels["floe.kind"] == "workspace"
    assert labels["floe.machine"] == "cpu-small"
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert "/var/run/docker.sock" not in mounts
    # The home (and /output) are the user's home disk; the image itself is read-only.
    disk = hub.data_dir / "homes" / name
    assert mounts["/home/jovyan"]["Source"] == str(disk / "home")
    assert mounts["/output"]["Source"] == str(disk / "output")
    assert host["ReadonlyRootfs"] is True
    assert set(host["Tmpfs"]) == {"/tmp"}
    assert container.attrs["NetworkSettings"]["Networks"].keys() == {f"{hub.instance}-net"}


def _sh(container, script):
    result = container.exec_run(["sh", "-c", script], user="1000:100")
    return result.exit_code, result.output.decode(errors="replace")


def test_home_disk_keeps_files_across_restarts_is_capped_and_goes_with_the_user(hub, new_user):
    name = new_user("bob")
    # A home from before home disks (a Docker volume) moves into the disk at the first start.
    client = docker.from_env()
    old = client.volumes.create(f"{hub.instance}-home-{name}")
    Path(old.attrs["Mountpoint"], "from-volume.txt").write_text("moved")
    assert hub.spawn(name, {"machine": "cpu-small"}).status_code in (201, 202)
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(old.name)
    container = _container(hub, name)
    assert _sh(container, "cat ~/work/from-volume.txt") == (0, "moved")
    # A new home starts with what the image keeps in its home, as a volume would have.
    assert _sh(container, "test -f ~/.bashrc && stat -c %u ~/.bashrc") == (0, "1000\n")

    # Writes past the disk's size fail in this workspace only; the image takes none at all.
    code, said = _sh(container, "df -B1 --output=size ~ | tail -1")
    assert code == 0 and int(said) <= HOME_DISK_BYTES
    code, said = _sh(container, "head -c 200M /dev/zero > ~/big")
    assert code != 0 and "No space left on device" in said
    assert _sh(container, "rm ~/big && echo x > /output/kept && cat /output/kept") == (0, "x\n")
    code, said = _sh(container, "touch /var/tmp/x")  # 1777 in the image
    assert code != 0 and "Read-only file system" in said
    assert _sh(container, "echo t > /tmp/t && cat /tmp/t") == (0, "t\n")
    put = requests.put(
        hub.user_url(name, "api/contents/work/keep.txt"),
        headers=admin_auth(hub),
        json={"type": "file", "format": "text", "content": "still here"},
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text

    hub.stop_server(name)
    with pytest.raises(docker.errors.NotFound):
        _container(hub, name)  # containers are removed on stop

    assert hub.spawn(name, {"machine": "cpu-large"}).status_code in (201, 202)
    got = requests.get(
        hub.user_url(name, "api/contents/work/keep.txt"), headers=admin_auth(hub), timeout=30
    )
    assert got.status_code == 200
    assert got.json()["content"] == "still here"
    assert _container(hub, name).attrs["HostConfig"]["Memory"] == 8 * 1024**3

    # Its /output was on the disk too: still there for Save output.
    assert _sh(_container(hub, name), "cat /output/kept") == (0, "x\n")
    hub.stop_server(name)
    disk = hub.data_dir / "homes" / name
    assert not os.path.ismount(disk)  # unmounted once the last workspace stopped
    assert disk.with_suffix(".ext4").exists()
    assert hub.api("DELETE", f"/users/{name}").status_code == 204
    assert not disk.with_suffix(".ext4").exists() and not disk.exists()


def test_gpu_machine_without_gpu_driver_gets_a_clear_error_and_frees_the_gpu(hub, new_user):
    name = new_user("gpu")
    for _attempt in range(2):  # the second try proves the first one gave its GPU back
        resp = hub.api("POST", f"/users/{name}/server", json={"machine": "gpu-1"})
        assert resp.status_code == 503, resp.text
        message = resp.json()["message"]
        assert "the 'gpu-1' machine needs a GPU" in message
        assert "could not select device driver" in message
        assert "pick a CPU machine type" in message
    assert_left_nothing_running(hub, name)


def test_gpu_error_is_shown_on_the_spawn_page(hub):
    session = hub.login_session("admin", hub.admin_password)
    page = session.post(
        f"{hub.url}/hub/spawn", data={"environment": "python", "machine": "gpu-1"}, timeout=60
    )
    assert page.status_code == 503
    text = html.unescape(page.text)
    assert "the 'gpu-1' machine needs a GPU" in text
    assert 'name="machine"' in text  # the form is shown again, to pick another machine


def test_spawn_progress_says_what_is_happening(hub, new_user):
    name = new_user("patient")
    with ThreadPoolExecutor(1) as pool:
        spawning = pool.submit(hub.spawn, name, {"machine": "cpu-large"})
        deadline = time.monotonic() + 30
        while hub.api("GET", f"/users/{name}").json().get("pending") != "spawn":
            assert time.monotonic() < deadline and not spawning.done()
            time.sleep(0.05)
        messages = []
        with hub.api("GET", f"/users/{name}/server/progress", stream=True) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    messages.append(event["message"])
                    if event.get("ready") or event.get("failed"):
                        break
        assert spawning.result().status_code in (201, 202)
    assert "Starting Python on CPU large (2 CPU, 8 GiB)" in messages
    assert "Container started; waiting for JupyterLab to answer" in messages
    assert messages[-1].startswith("Server ready")


def test_workspace_that_dies_while_starting_shows_its_last_lines(hub, new_user):
    name = new_user("crash")
    resp = hub.api("POST", f"/users/{name}/server", json={"environment": "broken"})
    assert resp.status_code == 500, resp.text
    message = resp.json()["message"]
    assert "the workspace stopped while starting" in message
    assert "broken-on-purpose" in message
    assert_left_nothing_running(hub, name)


def test_spawn_page_shows_environments_and_machines(hub):
    session = hub.login_session("admin", hub.admin_password)
    page = session.get(f"{hub.url}/hub/spawn", timeout=30)
    assert page.status_code == 200
    for text in (
        'name="environment"',
        'value="python"',
        'value="cpu-small"',
        "1 GPU, 4 CPU, 16 GiB",
    ):
        assert text in page.text
    assert "1 of 1 GPUs free." in page.text


def _change_admin_password(hub, old: str, new: str) -> None:
    session = hub.login_session("admin", old)
    page = session.get(f"{hub.url}/hub/change-password", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    form = {"_xsrf": xsrf, "old_password": old, "new_password": new}
    resp = session.post(
        f"{hub.url}/hub/change-password", data={**form, "new_password_confirmation": new}
    )
    assert "changed successfully" in resp.text, resp.text[-500:]


def test_workspace_and_a_changed_admin_password_survive_a_hub_restart(hub, new_user):
    name = new_user("steady")
    assert hub.spawn(name, {"machine": "cpu-small"}).status_code in (201, 202)
    before = _container(hub, name).id
    changed = secrets.token_urlsafe(16)
    _change_admin_password(hub, hub.admin_password, changed)

    hub.stop()
    assert _container(hub, name).status == "running"
    hub.start()

    # FLOE_ADMIN_PASSWORD made the account once; the restart did not bring it back.
    with pytest.raises(RuntimeError, match="login as admin failed"):
        hub.login_session("admin", hub.admin_password)
    _change_admin_password(hub, changed, hub.admin_password)

    model = hub.api("GET", f"/users/{name}").json()
    assert model["servers"][""]["ready"]
    status = requests.get(hub.user_url(name, "api/status"), headers=admin_auth(hub), timeout=30)
    assert status.status_code == 200
    assert _container(hub, name).id == before
