"""Serving jobs through the floe service: who may call one, what reaches it, what comes back.

The fake backend's ``serve`` container answers real HTTP on this machine (``echo_app``), so
every request here crosses the real forwarding code.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from floe.db.models import Job
from floe_service.serving_state import STATE_FOR_S
from tests.service.conftest import PREFIX
from tests.service.fake_backend import BIG_ANSWERED
from tests.service.helpers import submit, upload_files, wait_for


def serve_job(service, token: str, **body) -> dict:
    body = {"kind": "command", "command": "serve", "mode": "serve", **body}
    job = submit(service, token, **body)
    return wait_for(service, token, job, states=("running",))


def call(service, job: dict, token: str | None, path: str = "/", method: str = "GET", **kw):
    headers = dict(kw.pop("headers", {}))
    if token:
        headers.setdefault("Authorization", f"Bearer {token}")
    url = f"{service.url}{job['serve_url']}{path.lstrip('/')}"
    deadline = time.monotonic() + 10
    while True:  # the program may take a moment to listen once the job runs
        resp = requests.request(method, url, headers=headers, timeout=30, **kw)
        if resp.status_code != 503 or time.monotonic() > deadline:
            return resp
        time.sleep(0.05)


def make_token(service, job: dict, token: str, name: str = "") -> requests.Response:
    return service.api("POST", f"jobs/{job['id']}/tokens", token, json={"name": name})


@pytest.fixture
def serving(service):
    owner, token = service.user("server")
    job = serve_job(service, token)
    yield owner, token, job
    service.api("POST", f"jobs/{job['id']}/stop", token)


def test_a_serving_job_answers_its_owner_and_token_holders_only(service, serving):
    owner, token, job = serving
    assert job["mode"] == "serve" and job["max_runtime"] is None  # runs until stopped
    assert job["serve_url"] == f"{PREFIX}serve/{owner}/cats/{job['number']}/"

    anonymous = call(service, job, None)
    assert anonymous.status_code == 401, anonymous.text
    assert "floe serve token" in anonymous.json()["error"]
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")

    # The owner's own hub token works; another user's does not, nor does a made-up token.
    assert call(service, job, token).json()["path"] == "/"
    _other, other_token = service.user("stranger")
    assert call(service, job, other_token).status_code == 403
    assert call(service, job, "floe_serve_madeup").status_code == 401
    assert call(service, job, "not-a-token-at-all").status_code == 401
    # A cookie is no way in: a page elsewhere cannot make a logged-in browser call the job.
    assert call(service, job, None, headers={"Cookie": f"floe-token={token}"}).status_code == 401

    # Tokens: the owner's to make; a stranger cannot see the job, an admin may not make one.
    assert make_token(service, job, other_token).status_code == 404
    _admin, admin_token = service.user("boss", admin=True)
    assert make_token(service, job, admin_token).status_code == 403
    made = make_token(service, job, token, "my app")
    assert made.status_code == 201, made.text
    serving_token = made.json()["token"]
    assert serving_token.startswith("floe_serve_") and made.json()["name"] == "my app"
    answer = call(service, job, serving_token, "/predict?x=1")
    assert answer.status_code == 200 and answer.json()["path"] == "/predict"
    assert answer.json()["query"] == "x=1"

    # The list never shows a token again, only its first characters.
    listed = service.api("GET", f"jobs/{job['id']}/tokens", token).json()
    assert [t["prefix"] for t in listed] == [serving_token[:17]]
    assert serving_token not in str(listed)
    assert service.api("GET", f"jobs/{job['id']}/tokens", other_token).status_code == 404

    # A token serves its own job only.
    second = serve_job(service, token, project="dogs")
    try:
        assert call(service, second, serving_token).status_code == 403
    finally:
        service.api("POST", f"jobs/{second['id']}/stop", token)

    # Revoked: refused at once, though it was trusted a moment ago.
    revoke = f"serving-tokens/{listed[0]['id']}"
    assert service.api("DELETE", revoke, other_token).status_code == 404
    gone = service.api("DELETE", revoke, token)
    assert gone.status_code == 204
    assert call(service, job, serving_token).status_code == 401
    assert service.api("DELETE", revoke, token).status_code == 404


def test_what_reaches_the_job_and_what_comes_back(service, serving):
    _owner, token, job = serving
    serving_token = make_token(service, job, token).json()["token"]
    answer = call(
        service,
        job,
        serving_token,
        "/a/b",
        method="POST",
        data=b"x" * 1000,
        headers={"Cookie": "jupyterhub-session-id=secret", "X-Forwarded-For": "1.2.3.4"},
    )
    seen = answer.json()
    assert seen["method"] == "POST" and seen["path"] == "/a/b" and seen["body_bytes"] == 1000
    # Neither the caller's token nor their cookies reach the job; Floe says where it came from.
    assert "authorization" not in seen["headers"] and "cookie" not in seen["headers"]
    assert seen["headers"]["x-forwarded-prefix"] == job["serve_url"].rstrip("/")
    assert seen["headers"]["x-forwarded-for"] != "1.2.3.4"
    # The job's answer comes back inert on the hub's origin, and sets no cookie there.
    assert answer.headers["X-Served-By"] == "echo"
    assert "set-cookie" not in answer.headers
    page = call(service, job, serving_token, "/page")
    assert page.headers["Content-Security-Policy"].startswith("sandbox")
    assert page.headers["X-Content-Type-Options"] == "nosniff"

    for method in ("PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"):
        assert call(service, job, serving_token, "/m", method=method).status_code == 200, method

    # A body over the limit is refused whole, and the job is none the worse.
    big = call(service, job, serving_token, "/", method="POST", data=b"x" * (65 * 1024))
    assert big.status_code == 413, big.text
    assert call(service, job, serving_token).status_code == 200

    # The job's own failure is its answer, passed on as it is.
    failed = call(service, job, serving_token, "/fail")
    assert failed.status_code == 500 and failed.text == "it broke"


def test_a_load_of_concurrent_requests_all_answered_and_counted(service, serving):
    _owner, token, job = serving
    serving_token = make_token(service, job, token).json()["token"]

    def one(n: int) -> int:
        return call(service, job, serving_token, f"/n/{n}").status_code

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(one, range(400)))
    assert codes == [200] * 400
    call(service, job, serving_token, "/fail")

    figures = service.api("GET", f"jobs/{job['id']}", token).json()["serving"]
    assert figures["requests"] >= 401 and figures["errors"] == 1
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    # Written down within moments, so a restart of the service keeps the count.
    deadline = time.monotonic() + 5
    while True:
        with service.runner.sessions() as db:
            kept = db.get(Job, job["id"]).serving or {}
        if kept.get("requests", 0) >= 401 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert kept["requests"] >= 401 and kept["errors"] == 1


def test_a_serving_job_not_yet_running_says_when_to_retry_and_a_stopped_one_is_gone(service):
    owner, token = service.user("server")
    blockers = [submit(service, token, kind="command", command="sleep") for _ in range(2)]
    for blocker in blockers:
        wait_for(service, token, blocker, states=("running",))
    job = submit(service, token, kind="command", command="serve", mode="serve")
    waiting = requests.get(
        f"{service.url}{job['serve_url']}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert waiting.status_code == 503 and waiting.headers["Retry-After"] == "2"
    assert "queued" in waiting.json()["error"]
    for blocker in blockers:
        service.api("POST", f"jobs/{blocker['id']}/stop", token)
    job = wait_for(service, token, job, states=("running",))
    assert call(service, job, token).status_code == 200

    service.api("POST", f"jobs/{job['id']}/stop", token)
    assert wait_for(service, token, job)["state"] == "stopped"
    ended = call(service, job, token)
    assert ended.status_code == 410 and "stopped" in ended.json()["error"]
    # A job that is not a serving one has no endpoint, and no tokens to make.
    plain = wait_for(service, token, submit(service, token, kind="command", command="hello"))
    url = f"{service.url}{PREFIX}serve/{owner}/cats/{plain['number']}/"
    assert requests.get(url, headers={"Authorization": f"token {token}"}).status_code == 404
    assert make_token(service, plain, token).status_code == 400


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "notebook", "mode": "serve"}, "cannot serve"),
        ({"kind": "command", "command": "x", "mode": "forever"}, "mode"),
        ({"kind": "command", "command": " ", "mode": "serve"}, "app.py"),
        ({"kind": "command", "mode": "serve"}, "app.py"),
    ],
)
def test_bad_serving_requests_are_refused_with_what_would_work(service, body, words):
    _owner, token = service.user("server")
    if body.get("kind") == "notebook":
        from tests.notebooks import notebook

        body = {**body, "notebook": notebook("print(1)")}
    resp = service.api("POST", "jobs", token, json={"project": "cats", **body})
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["error"]


def test_serve_with_no_command_needs_an_app_py_in_its_code(service):
    _owner, token = service.user("server")
    code = upload_files(service, token, {"app.py": b"def app(environ, start_response): ...\n"})
    resp = service.api(
        "POST",
        "jobs",
        token,
        json={"project": "cats", "kind": "command", "mode": "serve", "code": code},
    )
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["command"] is None and job["mode"] == "serve"
    service.api("POST", f"jobs/{job['id']}/stop", token)


def test_the_job_page_shows_where_it_serves_and_how_busy_it_is(service, serving):
    _owner, token, job = serving
    call(service, job, token, "/x")
    page = service.page(f"jobs/{job['id']}", token)
    assert page.status_code == 200
    assert f'<code id="serve-url">{job["serve_url"]}</code>' in page.text
    assert "1 requests, 0 failed" in page.text and "median" in page.text
    assert '<span class="muted">answering</span>' in page.text


def test_a_job_that_does_not_listen_or_answer_in_time_is_a_clear_5xx(service, serving):
    _owner, token, job = serving
    late = requests.get(
        f"{service.url}{job['serve_url']}slow?5",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert late.status_code == 504 and "did not answer within 3 s" in late.json()["error"]

    deaf = serve_job(service, token, command="deaf", project="deaf")
    try:
        refused = requests.get(
            f"{service.url}{deaf['serve_url']}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
        assert "nothing answers on its port" in refused.json()["error"]
    finally:
        service.api("POST", f"jobs/{deaf['id']}/stop", token)


def test_a_deleted_serving_job_leaves_nothing_in_the_proxys_memory(service):
    _owner, token = service.user("forgotten")
    job = serve_job(service, token, project="gone")
    serving_token = make_token(service, job, token).json()["token"]
    assert call(service, job, serving_token).status_code == 200
    service.api("POST", f"jobs/{job['id']}/stop", token)
    wait_for(service, token, job)
    time.sleep(STATE_FOR_S)  # the proxy reads its state again
    assert call(service, job, serving_token).status_code == 410  # held as ended from now on
    held = service.serving
    assert job["id"] in held.figures.jobs and serving_token in held.tokens
    assert service.api("DELETE", f"jobs/{job['id']}", token).status_code == 200
    assert job["id"] not in held.figures.jobs and serving_token not in held.tokens
    assert all(view.id != job["id"] for view in held.jobs.values())


BODY = 60 * 1024  # under the fast tier's 64 KiB a request


def test_bodies_held_at_once_stay_within_their_bound_and_past_it_get_503(
    service, serving, monkeypatch
):
    _owner, token, job = serving
    url = f"{service.url}{job['serve_url']}in"
    headers = {"Authorization": f"Bearer {token}"}
    bodies = service.app.settings["serving"].bodies
    _other, other_token = service.user("other")
    other_job = serve_job(service, other_token, project="elsewhere")
    assert call(service, other_job, other_token).status_code == 200  # it listens
    # The bound is six bodies: one owner's jobs may hold three of them.
    monkeypatch.setattr(service.parts.serving, "max_buffered_bytes", 6 * BODY)
    most = [0]
    take = bodies.take

    def watched(size: int, owner: str = "") -> bool:
        taken = take(size, owner)
        most[0] = max(most[0], bodies.held)
        return taken

    monkeypatch.setattr(bodies, "take", watched)
    go = threading.Event()

    def held_back():  # all but a byte, until told to go on
        yield b"x" * (BODY - 1)
        go.wait(20)
        yield b"x"

    def post(data) -> requests.Response:
        return requests.post(url, headers=headers, data=data, timeout=30)

    with ThreadPoolExecutor(12) as pool:
        holders = [pool.submit(post, held_back()) for _ in range(3)]
        deadline = time.monotonic() + 10
        while bodies.held < 3 * (BODY - 1) and time.monotonic() < deadline:
            time.sleep(0.01)
        # The bound is all but taken: more large bodies at once are turned away, not held.
        refused = list(pool.map(post, [b"y" * BODY] * 8))
        # Another user's job still has the other half.
        elsewhere = call(service, other_job, other_token, "in", "POST", data=b"o" * BODY)
        go.set()
        answered = [h.result() for h in holders]
    for answer in refused:
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1", answer.text
        assert "try again shortly" in answer.json()["error"]
    assert [a.json()["body_bytes"] for a in answered] == [BODY] * 3
    assert elsewhere.status_code == 200 and elsewhere.json()["body_bytes"] == BODY
    assert most[0] <= 6 * BODY and bodies.by_owner == {}
    # All given back once answered, and room again for the next.
    assert bodies.held == 0
    assert post(b"z" * BODY).json()["body_bytes"] == BODY

    # A caller who leaves mid-body gives back what was held of it.
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as gone:
        gone.sendall(
            f"POST {job['serve_url']}in HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {BODY}\r\n\r\n".encode()
            + b"x" * (BODY // 2)
        )
        deadline = time.monotonic() + 10
        while bodies.held < BODY // 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert bodies.held == BODY // 2
    deadline = time.monotonic() + 10
    while bodies.held and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bodies.held == 0


def test_a_job_s_answer_comes_no_faster_than_its_caller_reads_it(service, serving):
    _owner, token, job = serving
    size = 256 * 1024**2
    before = BIG_ANSWERED[0]
    answer = requests.get(
        f"{service.url}{job['serve_url']}big?{size}",
        headers={"Authorization": f"Bearer {token}"},
        stream=True,
        timeout=30,
    )
    with answer:
        assert answer.status_code == 200
        time.sleep(1)  # the caller reads nothing meanwhile: the job is held back, not drained
        taken = BIG_ANSWERED[0] - before
        assert taken < 64 * 1024**2, taken
        assert sum(len(c) for c in answer.iter_content(1024**2)) == size


def test_one_body_as_large_as_a_request_may_be_always_fits_an_owners_share():
    from types import SimpleNamespace

    from floe_service.serving_state import HeldBodies

    bodies = HeldBodies(SimpleNamespace(max_buffered_bytes=256, max_body_bytes=200))
    assert bodies.take(200, "alice") and not bodies.take(1, "alice")
    assert bodies.take(56, "bob") and not bodies.take(1, "carol")
    bodies.give_back(200, "alice")
    bodies.give_back(56, "bob")
    assert (bodies.held, bodies.by_owner) == (0, {})
