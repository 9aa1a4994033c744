"""Environments made of an image plus a job's floe_requirements.txt: built once on the real
engine, reused by every later job and re-run, one build for jobs that ask together."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from containers.catalog import WORKSPACE_IMAGE
from environments.builder import EnvironmentBuilder
from environments.requirements import parse_requirements
from tests.conftest import GREETING
from tests.floe_cli import floe
from tests.platform.test_jobs import log_of, submit, wait_for
from tests.terminal import run_in_terminal
from tests.wheels import make_wheel

pytestmark = pytest.mark.integration


def _wheel(greeting: str) -> tuple[str, bytes]:
    """A tiny wheel saying ``greeting``: new bytes, so a new environment, in every session."""
    return make_wheel("floegreet", f"GREETING = {greeting!r}\n")


def _code(hub, token, files: dict[str, bytes]) -> list[dict]:
    manifest = []
    for path, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        assert hub.floe("PUT", f"blobs/{sha}", token, data=data).status_code in (200, 201)
        manifest.append({"path": path, "sha256": sha, "size": len(data)})
    return manifest


PRINT = "python3 -c 'import floegreet; print(floegreet.GREETING)'"


def test_requirements_are_built_once_and_every_later_job_reuses_the_image(hub, user_token):
    name, token = user_token("env")
    greeting = f"hello {secrets.token_hex(4)}"
    wheel, data = _wheel(greeting)
    # Comments, spacing and order are not what makes an environment: both files are one key.
    first_file = f"# what the job needs\n./{wheel}\n".encode()
    second_file = f"\n  ./{wheel}   # the same wheel\n".encode()
    codes = [
        _code(hub, token, {wheel: data, "floe_requirements.txt": text})
        for text in (first_file, second_file)
    ]

    # Two jobs asking for the same new environment at once: one build.
    with ThreadPoolExecutor(2) as pool:
        jobs = list(
            pool.map(
                lambda code: submit(hub, token, kind="command", command=PRINT, code=code), codes
            )
        )
    done = [wait_for(hub, token, job) for job in jobs]
    logs = [log_of(hub, token, job) for job in jobs]
    assert [d["state"] for d in done] == ["complete", "complete"], (done, logs)
    assert all(greeting in log for log in logs), logs
    assert sum("environment built in" in log for log in logs) == 1, logs
    assert sum("built before, nothing installed" in log for log in logs) == 1, logs
    assert done[0]["image_digest"] == done[1]["image_digest"]
    assert done[0]["image"].startswith("floe/env:")
    image = docker.from_env().images.get(done[0]["image"])
    assert (
        image.labels["floe.env.requirements"]
        == f"./local/{hashlib.sha256(data).hexdigest()[:12]}/{wheel}\n"
    )

    # A re-run months later: the same image, nothing installed.
    rerun = hub.floe("POST", f"jobs/{jobs[0]['id']}/rerun", token, json={})
    assert rerun.status_code == 201, rerun.text
    again = wait_for(hub, token, rerun.json())
    log = log_of(hub, token, again)
    assert again["state"] == "complete" and greeting in log, log
    assert again["image_digest"] == done[0]["image_digest"]
    assert "nothing installed" in log and "Processing" not in log, log
    # What made the image is kept: the environment's image, then floe_requirements.txt.
    steps = again["provenance"]
    assert steps == done[0]["provenance"], steps
    assert [s["environment"] for s in steps] == ["python", "floe_requirements.txt"]
    assert steps[-1]["id"] == again["image_digest"] and steps[0]["image"] == WORKSPACE_IMAGE


def test_requirements_that_do_not_install_end_the_job_with_pip_s_error(hub, user_token):
    name, token = user_token("env")
    cases = {
        # From the package index, as users write them: pip's own words come back.
        b"floe-no-such-package-3f9a1c==1.0\n": "No matching distribution found",
        # What pip would read from elsewhere is refused before any build.
        b"-r /etc/passwd\n": "-r is not supported",
        b"./missing-1.0-py3-none-any.whl\n": "no such file in the job's code",
    }
    jobs = {
        expected: submit(
            hub,
            token,
            kind="command",
            command="echo never runs",
            code=_code(hub, token, {"floe_requirements.txt": text}),
        )
        for text, expected in cases.items()
    }
    for expected, job in jobs.items():
        ended = wait_for(hub, token, job)
        assert ended["state"] == "error" and expected in ended["reason"], ended
        assert "never runs" not in log_of(hub, token, job)


def _spawn_watching_progress(hub, name, options) -> list[str]:
    """Start a server and read the spawn page's progress messages (all of them, from the
    first, as the page does) until it is ready."""
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(hub.api, "POST", f"/users/{name}/server", json=options, timeout=300)
        deadline = time.monotonic() + 60
        while not hub.api("GET", f"/users/{name}").json().get("pending"):
            assert not started.done() or started.result().status_code == 202, started.result().text
            assert time.monotonic() < deadline, "the spawn never became pending"
            time.sleep(0.05)
        messages = []
        with hub.api("GET", f"/users/{name}/server/progress", stream=True, timeout=300) as events:
            for line in events.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line[len("data:") :])
                    messages.append(event.get("message", ""))
                    if event.get("ready") or event.get("failed"):
                        break
        assert started.result().status_code in (201, 202), started.result().text
    hub.wait_until(name, ready=True, timeout=120)
    return messages


def test_a_catalog_environment_is_built_on_first_use_for_workspaces_and_jobs(hub, user_token):
    name, token = user_token("env")
    messages = _spawn_watching_progress(hub, name, {"environment": "greet"})
    # The spawn page showed the build: Floe's line and pip's own.
    assert any(m.startswith("building environment greet") for m in messages), messages
    assert any("Successfully installed floegreeting-1.0" in m for m in messages), messages
    container = docker.from_env().containers.get(f"{hub.instance}-workspace-{name}")
    image = container.image
    assert image.tags[0].startswith("floe/env:") and image.labels["floe.kind"] == "environment"
    # The package is there in the workspace's terminal.
    run_in_terminal(hub, name, "python3 -c 'import floegreeting as g; print(g.GREETING)'", GREETING)
    hub.stop_server(name)

    # A job on the same environment runs in the image the workspace made: nothing is built.
    command = "python3 -c 'import floegreeting as g; print(g.GREETING)'"
    job = wait_for(
        hub, token, submit(hub, token, kind="command", environment="greet", command=command)
    )
    log = log_of(hub, token, job)
    assert job["state"] == "complete" and GREETING in log, log
    assert job["image_digest"] == image.id and "building environment" not in log, log


def _slow_sdist() -> tuple[str, bytes]:
    """An sdist whose setup.py takes minutes: a build to watch and to stop."""
    buffer = io.BytesIO()
    files = {
        "slowpkg-1.0/setup.py": b"import time\ntime.sleep(600)\n",
        "slowpkg-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: slowpkg\nVersion: 1.0\n",
    }
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return "slowpkg-1.0.tar.gz", buffer.getvalue()


def test_a_build_runs_fenced_like_a_job_and_stops_with_it(hub, user_token):
    name, token = user_token("env")
    sdist, data = _slow_sdist()
    code = _code(hub, token, {sdist: data, "floe_requirements.txt": f"./{sdist}\n".encode()})
    job = submit(hub, token, kind="command", command="echo never runs", code=code)
    client = docker.from_env()
    deadline = time.monotonic() + 120
    builds = []
    while not builds and time.monotonic() < deadline:
        builds = client.containers.list(filters={"label": "floe.kind=environment-build"})
        time.sleep(0.2)
    assert builds, "no build container appeared"
    host = builds[0].attrs["HostConfig"]
    # What a requirement's setup.py runs is fenced as a job is: Floe's network, no
    # capabilities, no new privileges, limits.
    assert host["NetworkMode"] == f"{hub.instance}-net"
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] > 0 and host["PidsLimit"] > 0
    mounts = {m["Destination"]: m for m in builds[0].attrs["Mounts"]}
    assert mounts["/floe-env"]["RW"] is False
    assert (
        hub.floe("GET", f"jobs/{job['id']}", token)
        .json()["reason"]
        .startswith("building environment")
    )

    assert hub.floe("POST", f"jobs/{job['id']}/stop", token).status_code in (200, 202)
    ended = wait_for(hub, token, job, timeout=60)
    assert ended["state"] == "stopped" and ended["reason"] == f"stopped by {name}", ended
    assert not client.containers.list(all=True, filters={"label": "floe.kind=environment-build"})


def test_the_cache_removes_the_least_recently_used_and_never_one_in_use(tmp_path):
    builder = EnvironmentBuilder(
        lock_dir=str(tmp_path), repository=f"floetest-{secrets.token_hex(3)}/env"
    )
    built = {}
    for package in ("floecachea", "floecacheb"):
        name, data = make_wheel(package, f"NONCE = {secrets.token_hex(8)!r}\n")
        (tmp_path / name).write_bytes(data)
        requirements = parse_requirements(f"./{name}\n", code_dir=tmp_path)
        built[package] = (builder.ensure(WORKSPACE_IMAGE, requirements), requirements)
        time.sleep(0.05)
    client = docker.from_env()
    try:
        cached = {c["tag"]: c for c in builder.cache.images()}
        assert set(cached) == {b.tag for b, _ in built.values()}
        assert all(c["bytes"] > 0 and not c["in_use"] for c in cached.values())
        # a is used again after b was made: b is now the least recently used.
        assert builder.find(WORKSPACE_IMAGE, built["floecachea"][1]) == built["floecachea"][0].tag
        builder.cache_bytes = max(c["bytes"] for c in cached.values())
        assert builder.prune() == [built["floecacheb"][0].tag]
        assert builder.find(WORKSPACE_IMAGE, built["floecacheb"][1]) is None

        # An image a container uses (running or not) stays, whatever the budget.
        container = client.containers.create(built["floecachea"][0].tag, "true")
        try:
            builder.cache_bytes = 0
            assert builder.prune() == []
        finally:
            container.remove()
        assert builder.prune() == [built["floecachea"][0].tag]
    finally:
        for b, _ in built.values():
            try:
                client.images.remove(b.tag, force=True)
            except docker.errors.ImageNotFound:
                pass


def test_an_environment_a_user_makes_runs_their_workspace_and_jobs_and_is_theirs(
    hub, user_token, tmp_path
):
    name, token = user_token("maker")
    # From the package index, as users write requirements; a small pure-Python package.
    (tmp_path / "requirements.txt").write_text("tabulate==0.9.0\n")
    made = floe(
        hub, token, "env", "create", "tab", "--from", "python", "-r", "requirements.txt",
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"{name}/tab:1 is ready" in made.stdout, made.stdout
    listing = floe(hub, token, "env", "ls", cwd=tmp_path).stdout
    line = next(x for x in listing.splitlines() if x.startswith(f"{name}/tab:1"))
    assert line.split()[1] == "ready" and line.split()[3] in ("MiB", "GiB"), listing

    # The workspace: the package is there in its terminal.
    messages = _spawn_watching_progress(hub, name, {"environment": f"{name}/tab:1"})
    assert messages, messages
    run_in_terminal(hub, name, "python3 -c 'import tabulate; print(tabulate.__version__)'", "0.9.0")
    hub.stop_server(name)
    # A job names it as "tab": its owner's latest; it keeps what made its image.
    command = "python3 -c 'import tabulate; print(\"tabulate\", tabulate.__version__)'"
    job = wait_for(
        hub, token, submit(hub, token, kind="command", environment="tab", command=command)
    )
    assert job["state"] == "complete" and "tabulate 0.9.0" in log_of(hub, token, job), job
    assert job["environment"] == f"{name}/tab:1"
    steps = job["provenance"]
    assert [s["environment"] for s in steps] == ["python", f"{name}/tab:1"], steps
    assert (
        steps[-1]["requirements"] == "tabulate==0.9.0\n" and steps[-1]["id"] == job["image_digest"]
    )

    # Another user can neither start a workspace on it nor run a job in it.
    other, other_token = user_token("other")
    spawn = hub.api("POST", f"/users/{other}/server", json={"environment": f"{name}/tab:1"})
    assert spawn.status_code == 400 and "unknown environment" in spawn.text, spawn.text
    refused = hub.floe(
        "POST",
        "jobs",
        other_token,
        json={"project": "p", "kind": "command", "command": "true", "environment": f"{name}/tab:1"},
    )
    assert refused.status_code == 400 and "unknown environment" in refused.text, refused.text
