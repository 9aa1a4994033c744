"""Environments people make (``alice/nlp:2``): making, versions, who may see and use them, what
a job records of them. The builder is the fast tier's (``fake_builder``); the real one builds in
``tests/platform/test_environments.py``."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import requests

from environments.builder import build_key
from environments.requirements import parse_requirements
from tests.service.conftest import PREFIX
from tests.service.fake_builder import FakeBuilder
from tests.service.helpers import floe_fast, submit, wait_for


def make(service, token: str, name: str, requirements: str = "tabulate==0.9.0", **body):
    body = {"name": name, "from": "datascience", "requirements": requirements, **body}
    return service.api("POST", "environments", token, json=body)


def built(service, token: str, answer, states=("ready", "failed")) -> dict:
    assert answer.status_code == 202, answer.text
    env = answer.json()
    owner, version = env["owner"], env["version"]
    path = f"environments/{owner}/{env['name'].split('/')[1].split(':')[0]}/{version}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        env = service.api("GET", path, token).json()
        if env["state"] in states:
            return env
        time.sleep(0.02)
    raise TimeoutError(f"{path} never reached {states}: {env}")


def listed(service, token: str) -> dict[str, dict]:
    return {e["name"]: e for e in service.api("GET", "environments", token).json()}


def test_an_environment_is_made_built_versioned_and_listed_with_its_size_and_last_use(service):
    alice, token = service.user("alice")
    package = f"tabulate-{alice}==0.9.0"  # new to the builder whatever ran before
    first = make(service, token, "nlp", f"{package}\n# a comment\n", description="NLP")
    assert first.json()["state"] in ("queued", "building", "ready"), first.json()
    one = built(service, token, first)
    assert one["state"] == "ready", one
    assert one["name"] == f"{alice}/nlp:1" and one["base"] == "datascience"
    assert one["requirements"] == f"{package}\n" and not one["public"]
    assert one["image"].startswith("floe/env:") and one["on_node"] and one["size_bytes"]
    # An index's password in the requirements is built with, never shown.
    private = make(
        service, token, "idx", f"--extra-index-url https://me:s3cret@pkgs.example/\n{package}"
    )
    shown = built(service, token, private)
    assert "s3cret" not in shown["requirements"], shown
    assert "https://***@pkgs.example" in shown["requirements"], shown
    log = service.api("GET", f"environments/{alice}/nlp/1/log", token)
    assert f"Collecting {package}" in log.text and "is ready" in log.text, log.text
    assert log.headers["Content-Type"].startswith("text/plain")

    # The next one is version 2, and may build on the first.
    two = built(service, token, make(service, token, "nlp", "rich==13.9.4", **{"from": "nlp:1"}))
    assert two["name"] == f"{alice}/nlp:2" and two["base"] == f"{alice}/nlp:1", two

    envs = listed(service, token)
    assert {"python", "datascience", "pytorch", f"{alice}/nlp:1", f"{alice}/nlp:2"} <= set(envs)
    assert envs["datascience"]["kind"] == "catalog" and envs[f"{alice}/nlp:2"]["kind"] == "made"
    assert envs[f"{alice}/nlp:2"]["last_used"] is not None
    # Made ones that are built are offered wherever an environment is picked.
    catalog = service.api("GET", "catalog", token).json()["environments"]
    assert f"{alice}/nlp:2" in [e["slug"] for e in catalog]


def test_a_job_runs_in_a_made_environment_and_keeps_what_made_its_image(service):
    alice, token = service.user("alice")
    built(service, token, make(service, token, "nlp"))
    # "nlp" alone is the caller's latest built version.
    job = wait_for(
        service, token, submit(service, token, kind="command", command="go", environment="nlp")
    )
    assert job["state"] == "complete" and job["environment"] == f"{alice}/nlp:1", job
    steps = job["provenance"]
    assert [s["environment"] for s in steps] == ["python", "datascience", f"{alice}/nlp:1"]
    assert steps[-1]["requirements"] == "tabulate==0.9.0\n" and steps[-1]["key"]
    assert job["image"] == steps[-1]["image"] and job["image_digest"]
    assert all(s["id"] for s in steps), steps

    # A re-run in the same environment runs in the very image, nothing built or installed.
    builds = len(FakeBuilder.builds)
    rerun = service.api("POST", f"jobs/{job['id']}/rerun", token, json={})
    again = wait_for(service, token, rerun.json())
    assert again["state"] == "complete" and again["image_digest"] == job["image_digest"]
    assert again["provenance"] == steps and len(FakeBuilder.builds) == builds
    log = service.api("GET", f"jobs/{again['id']}/logs", token).text
    assert "nothing installed" in log, log
    # Another environment is a new image, and says what made it.
    other = service.api("POST", f"jobs/{job['id']}/rerun", token, json={"environment": "python"})
    other = wait_for(service, token, other.json())
    assert [s["environment"] for s in other["provenance"]] == ["python"], other


def test_an_index_token_is_built_with_but_never_shown(service):
    alice, token = service.user("alice")
    package = f"tabulate-{alice}==0.9.0"
    text = (
        "--extra-index-url https://TOKEN123@pkgs.example/simple\n"
        f"{package}\n"
        "mine @ https://files.example/mine-1.0-py3-none-any.whl?token=SIG456&v=1\n"
    )
    env = built(service, token, make(service, token, "private", text))
    assert env["state"] == "ready", env
    job = wait_for(
        service, token, submit(service, token, kind="command", command="go", environment="private")
    )
    shown = [
        env["requirements"],
        listed(service, token)[f"{alice}/private:1"]["requirements"],
        job["provenance"][-1]["requirements"],
    ]
    for requirements in shown:
        assert "TOKEN123" not in requirements and "SIG456" not in requirements, requirements
        assert "https://***@pkgs.example/simple" in requirements, requirements
        assert "mine-1.0-py3-none-any.whl?token=***&v=1" in requirements, requirements
    # The build itself was given the token: its key is that of the unmasked text.
    base, made = job["provenance"][-2:]
    assert made["key"] == build_key(base["id"], parse_requirements(text)) in FakeBuilder.builds


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "Bad Name"}, 400, "lowercase"),
        ({"name": "python"}, 409, "catalog's environments"),
        ({"from": "no-such-env"}, 400, "unknown environment"),
        ({"from": "someone/else:3"}, 400, "unknown environment"),
        ({"requirements": ""}, 400, "at least one package"),
        ({"requirements": "# only a comment\n"}, 400, "at least one package"),
        ({"requirements": "-r /etc/passwd\n"}, 400, "-r is not supported"),
        ({"requirements": "--pre -c /etc/shadow\n"}, 400, "-c is not supported"),
        ({"requirements": "./mine-1.0-py3-none-any.whl\n"}, 400, "from a job's code"),
        ({"requirements": "x==1\n" * 20_000}, 400, "over 64 KiB"),
        ({"description": "d" * 3000}, 400, "at most 2000"),
        ({"requirements": ["a"]}, 400, "requirements"),
        ({"image": "evil/root:latest"}, 400, "image"),
    ],
)
def test_bad_environments_are_refused_with_what_would_be_right(service, body, status, words):
    _alice, token = service.user("alice")
    body = {"name": "nlp", "from": "datascience", "requirements": "tabulate==0.9.0", **body}
    answer = service.api("POST", "environments", token, json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"], answer.json()
    assert not [e for e in listed(service, token).values() if e["kind"] == "made"]


def test_one_build_at_a_time_per_user_and_a_failed_build_says_pip_s_error(service):
    alice, token = service.user("alice")
    FakeBuilder.release.clear()
    try:
        slow = make(service, token, "slow", "floe-slow==1.0")
        assert slow.status_code == 202, slow.text
        again = make(service, token, "other")
        assert again.status_code == 429 and "being built already" in again.json()["error"]
        # Still building: not usable yet, and said so.
        job = service.api(
            "POST",
            "jobs",
            token,
            json={"project": "p", "kind": "command", "command": "x", "environment": "slow:1"},
        )
        assert job.status_code == 409 and "still being built" in job.json()["error"], job.text
    finally:
        FakeBuilder.release.set()
    assert built(service, token, slow)["state"] == "ready"

    failed = built(service, token, make(service, token, "broken", "floe-fails==1.0"))
    assert failed["state"] == "failed" and "No matching distribution" in failed["reason"]
    log = service.api("GET", f"environments/{alice}/broken/1/log", token).text
    assert "No matching distribution" in log and "did not build" in log
    job = service.api(
        "POST",
        "jobs",
        token,
        json={"project": "p", "kind": "command", "command": "x", "environment": "broken"},
    )
    assert job.status_code == 409 and "did not build" in job.json()["error"], job.text


def test_a_made_environment_is_its_owner_s_until_an_admin_makes_it_public(service):
    alice, alice_token = service.user("alice")
    _bob, bob_token = service.user("bob")
    _admin, admin_token = service.user("admin", admin=True)
    built(service, alice_token, make(service, alice_token, "nlp"))
    ref, path = f"{alice}/nlp:1", f"environments/{alice}/nlp/1"

    # Bob cannot see it, use it, read its log or build on it; it is not told apart from none.
    assert service.api("GET", path, bob_token).status_code == 404
    assert service.api("GET", path + "/log", bob_token).status_code == 404
    assert ref not in listed(service, bob_token)
    catalog = service.api("GET", "catalog", bob_token).json()["environments"]
    assert ref not in [e["slug"] for e in catalog]
    job = {"project": "p", "kind": "command", "command": "x", "environment": ref}
    refused = service.api("POST", "jobs", bob_token, json=job)
    assert refused.status_code == 400 and "unknown environment" in refused.json()["error"]
    assert make(service, bob_token, "mine", **{"from": ref}).status_code == 400
    # Nor may he (or alice herself) make it public: only an admin.
    put = service.api("PUT", path + "/public", bob_token, json={"public": True})
    assert put.status_code == 404
    put = service.api("PUT", path + "/public", alice_token, json={"public": True})
    assert put.status_code == 403 and "only an admin" in put.json()["error"]

    put = service.api("PUT", path + "/public", admin_token, json={"public": True})
    assert put.status_code == 200 and put.json()["public"], put.text
    assert listed(service, bob_token)[ref]["public"]
    done = wait_for(service, bob_token, service.api("POST", "jobs", bob_token, json=job).json())
    assert done["state"] == "complete" and done["environment"] == ref, done
    mine = built(service, bob_token, make(service, bob_token, "mine", **{"from": ref}))
    assert mine["state"] == "ready" and mine["base"] == ref

    # Private again: bob's new jobs are refused; his own environment keeps working.
    service.api("PUT", path + "/public", admin_token, json={"public": False})
    assert service.api("POST", "jobs", bob_token, json=job).status_code == 400
    job["environment"] = "mine"
    done = wait_for(service, bob_token, service.api("POST", "jobs", bob_token, json=job).json())
    assert done["state"] == "complete", done


def test_floe_env_create_follows_the_build_and_env_ls_shows_it(service, tmp_path):
    alice, token = service.user("alice")
    (tmp_path / "requirements.txt").write_text(f"tabulate-{alice}==0.9.0\n")
    made = floe_fast(
        service, token, "env", "create", "nlp", "--from", "datascience", "-r", "requirements.txt",
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"Collecting tabulate-{alice}" in made.stdout, made.stdout
    assert f"{alice}/nlp:1 is ready" in made.stdout
    listing = floe_fast(service, token, "env", "ls", cwd=tmp_path)
    line = next(x for x in listing.stdout.splitlines() if x.startswith(f"{alice}/nlp:1"))
    # The fake builder's image: 1000 bytes a layer; last used just now.
    assert line.split()[1:4] == ["ready", "2.9", "KiB"], line

    (tmp_path / "bad.txt").write_text("floe-fails==1\n")
    failed = floe_fast(
        service, token, "env", "create", "nlp", "--from", "python", "-r", "bad.txt", cwd=tmp_path
    )
    assert failed.returncode == 1 and "No matching distribution" in failed.stderr, failed
    refused = floe_fast(
        service, token, "env", "create", "python", "--from", "python", "-r", "bad.txt",
        cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode != 0 and "catalog's environments" in refused.stderr, refused


def _form(service, path: str, token: str, fields: dict):
    return requests.post(
        f"{service.url}{PREFIX}{path}",
        headers={"Authorization": f"token {token}"},
        data=fields,
        timeout=30,
        allow_redirects=False,
    )


def test_the_pages_make_show_and_publish_an_environment(service):
    alice, token = service.user("alice")
    _bob, bob_token = service.user("bob")
    _admin, admin_token = service.user("admin", admin=True)
    listing = service.page("environments", token)
    assert listing.status_code == 200 and 'name="requirements"' in listing.text
    assert ">datascience<" in listing.text  # a base to pick

    fields = {"name": "web", "from": "python", "requirements": f"<b>x-{alice}</b>==1\n"}
    made = _form(service, "environments", token, fields)
    assert made.status_code == 302, made.text
    assert made.headers["Location"] == f"{PREFIX}environments/{alice}/web/1"
    env = built(service, token, SimpleNamespace(status_code=202, json=lambda: {
        "owner": alice, "name": f"{alice}/web:1", "version": 1}))  # fmt: skip
    assert env["state"] == "ready", env
    page = service.page(f"environments/{alice}/web/1", token)
    assert page.status_code == 200 and "Build log" in page.text
    # What pip printed is text on the page, never markup.
    assert f"&lt;b&gt;x-{alice}&lt;/b&gt;" in page.text and f"<b>x-{alice}" not in page.text
    assert 'id="publish"' not in page.text  # only an admin has the button
    assert service.page(f"environments/{alice}/web/1", bob_token).status_code == 404

    bad = _form(service, "environments", token, {**fields, "name": "python"})
    assert bad.status_code == 409 and "is one of the catalog" in bad.text
    assert (
        _form(service, f"environments/{alice}/web/1/public", token, {"public": "1"}).status_code
        == 403
    )
    published = _form(service, f"environments/{alice}/web/1/public", admin_token, {"public": "1"})
    assert published.status_code == 302
    assert f"{alice}/web:1" in service.page("environments", bob_token).text


def _published(service, name: str) -> tuple[str, str, dict]:
    """alice's ``name`` built and made public by an admin: its ref, API path, and as built."""
    alice, alice_token = service.user("alice")
    _admin, admin_token = service.user("admin", admin=True)
    env = built(service, alice_token, make(service, alice_token, name, f"{name}-{alice}==1"))
    path = f"environments/{alice}/{name}/1"
    put = service.api("PUT", path + "/public", admin_token, json={"public": True})
    assert put.status_code == 200 and put.json()["public"], put.text
    return f"{alice}/{name}:1", path, env


def test_the_cache_never_removes_a_published_environment_s_image(service):
    alice, alice_token = service.user("alice")
    _bob, bob_token = service.user("bob")
    loose = built(service, alice_token, make(service, alice_token, "loose", f"loose-{alice}==1"))
    ref, _path, approved = _published(service, "nlp")
    approved_id = FakeBuilder.built[approved["image"]]

    # Over its size after the next build, the cache removes what it may; never the approved.
    builder = service.parts.builder
    budget, builder.cache_bytes = builder.cache_bytes, 0
    try:
        built(service, alice_token, make(service, alice_token, "later", f"later-{alice}==1"))
    finally:
        builder.cache_bytes = budget
    assert loose["image"] not in FakeBuilder.built  # it did prune
    assert FakeBuilder.built.get(approved["image"]) == approved_id
    job = {"project": "p", "kind": "command", "command": "x", "environment": ref}
    done = wait_for(service, bob_token, service.api("POST", "jobs", bob_token, json=job).json())
    assert done["state"] == "complete" and done["provenance"][-1]["id"] == approved_id, done


def test_a_published_environment_whose_image_is_gone_is_refused_never_built_again(service):
    _bob, bob_token = service.user("bob")
    _admin, admin_token = service.user("admin", admin=True)
    ref, path, approved = _published(service, "nlp")
    image = approved["image"]

    del FakeBuilder.built[image]  # removed by hand, or lost with the engine's disk
    builds = len(FakeBuilder.builds)
    job = {"project": "p", "kind": "command", "command": "x", "environment": ref}
    refused = service.api("POST", "jobs", bob_token, json=job)
    assert refused.status_code == 409, refused.text
    assert "approved" in refused.json()["error"] and "publish it again" in refused.json()["error"]
    assert service.api("GET", path, bob_token).json()["on_node"] is False
    assert len(FakeBuilder.builds) == builds and image not in FakeBuilder.built

    # Publishing needs an image to approve: private, used once (built again), then published.
    again = service.api("PUT", path + "/public", admin_token, json={"public": True})
    assert again.status_code == 409 and "not on this node" in again.json()["error"], again.text
    service.api("PUT", path + "/public", admin_token, json={"public": False})
    wait_for(service, admin_token, service.api("POST", "jobs", admin_token, json=job).json())
    assert image in FakeBuilder.built and len(FakeBuilder.builds) > builds  # as a private one
    again = service.api("PUT", path + "/public", admin_token, json={"public": True})
    assert again.status_code == 200, again.text
    done = wait_for(service, bob_token, service.api("POST", "jobs", bob_token, json=job).json())
    assert done["state"] == "complete", done
