"""Serve mode on the real platform: `floe run --mode serve` starts a container that answers
through the hub's proxy and the floe service, only with a token, through a restart of the
service, until it is stopped."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.floe_cli import floe

pytestmark = pytest.mark.integration

APP = """\
import json, os, threading

lock = threading.Lock()
count = 0


def app(environ, start_response):
    global count
    with lock:
        count += 1
        n = count
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    answer = {
        "n": n,
        "path": environ["PATH_INFO"],
        "port": os.environ["PORT"],
        "echo": body.decode(),
        "saw_authorization": "HTTP_AUTHORIZATION" in environ,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(answer).encode()]
"""


def wait_answering(url: str, token: str, timeout: float = 120) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        resp = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if resp.status_code != 503 and resp.status_code != 502:
            return resp
        assert time.monotonic() < deadline, f"the serving job never answered: {resp.text}"
        time.sleep(0.5)


def test_a_wsgi_app_served_with_tokens_through_a_service_restart(hub, user_token, tmp_path):
    name, token = user_token("server")
    _other, other_token = user_token("caller")
    project = tmp_path / "api"
    project.mkdir()
    (project / "app.py").write_text(APP)
    assert floe(hub, token, "init", "api", cwd=project).returncode == 0
    started = floe(hub, token, "run", "--mode", "serve", "-m", "the model", cwd=project)
    assert started.returncode == 0, started.stderr
    assert "floe serve token" in started.stdout
    job = hub.floe("GET", "jobs?project=api", token).json()[0]
    url = f"{hub.url}{job['serve_url']}"
    assert job["serve_url"] == f"/services/floe/serve/{name}/api/1/"

    assert requests.get(url + "predict", timeout=30).status_code == 401
    made = floe(hub, token, "serve", "token", job["name"], "--name", "tests", cwd=project)
    assert made.returncode == 0, made.stderr
    serving_token = made.stdout.strip()
    answer = wait_answering(url + "predict", serving_token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["path"] == "/predict" and body["port"] == "8080"
    assert body["saw_authorization"] is False
    # Another user's own hub token is no way in; the owner's is.
    assert requests.get(url, headers={"Authorization": f"token {other_token}"}).status_code == 403
    assert wait_answering(url, token).status_code == 200

    # A bounded load of concurrent requests: every one answered.
    def post(n: int) -> tuple[int, str]:
        resp = requests.post(
            url + "echo",
            data=f"request {n}",
            headers={"Authorization": f"Bearer {serving_token}"},
            timeout=60,
        )
        return resp.status_code, resp.json()["echo"] if resp.ok else resp.text

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(200)))
    assert answers == [(200, f"request {n}") for n in range(200)]

    # The floe service restarts (the hub starts it again): the endpoint and its token outlive it.
    pid = int((hub.data_dir / "floe-service.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    deadline = time.monotonic() + 120
    while True:
        try:
            again = requests.get(
                url + "again", headers={"Authorization": f"Bearer {serving_token}"}, timeout=30
            )
            if again.status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the endpoint did not come back with the service"
        time.sleep(0.5)
    assert again.json()["n"] > 200  # the same process: the job was never restarted

    status = floe(hub, token, "status", job["name"], cwd=project)
    assert f"serving at {url}" in status.stdout and "requests" in status.stdout
    page = requests.get(
        f"{hub.url}/services/floe/jobs/{job['id']}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert job["serve_url"] in page.text and "requests" in page.text

    listed = json.loads(floe(hub, token, "serve", "tokens", job["name"], "--json").stdout)
    assert [t["name"] for t in listed] == ["tests"]
    assert floe(hub, token, "serve", "revoke", str(listed[0]["id"])).returncode == 0
    revoked = requests.get(url, headers={"Authorization": f"Bearer {serving_token}"}, timeout=30)
    assert revoked.status_code == 401

    assert floe(hub, token, "stop", job["name"]).returncode == 0
    deadline = time.monotonic() + 60
    while (
        ended := requests.get(url, headers={"Authorization": f"token {token}"})
    ).status_code != 410:
        assert time.monotonic() < deadline, ended.text
        time.sleep(0.5)


def test_a_plain_command_serves_on_its_port_as_a_step_of_floe_yml(hub, user_token, tmp_path):
    _name, token = user_token("server")
    project = tmp_path / "files"
    project.mkdir()
    (project / "hello.txt").write_text("hello from a served folder\n")
    assert floe(hub, token, "init", "files", cwd=project).returncode == 0
    (project / "floe.yml").write_text(
        "env: python\nsteps:\n  site:\n    mode: serve\n    command: python3 -m http.server $PORT\n"
    )
    started = floe(hub, token, "run", "site", cwd=project)
    assert started.returncode == 0, started.stderr
    job = hub.floe("GET", "jobs?project=files", token).json()[0]
    assert job["step"] == "site" and job["mode"] == "serve"
    assert job["command"] == "python3 -m http.server $PORT"
    try:
        answer = wait_answering(f"{hub.url}{job['serve_url']}hello.txt", token)
        assert answer.text == "hello from a served folder\n"
        # What the job sends back is inert on the hub's origin.
        assert answer.headers["Content-Security-Policy"].startswith("sandbox")
    finally:
        hub.floe("POST", f"jobs/{job['id']}/stop", token)
