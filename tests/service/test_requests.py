"""Whatever a client sends, the answer is a 2xx or a 4xx that says what was wrong: never a 5xx.

Each case here was a 500 once (or would be without the one error map)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def alice(service):
    return service.user("alice")


@pytest.mark.parametrize(
    ("path", "field", "fragment"),
    [
        ("jobs?limit=abc", "limit", "must be a whole number"),
        ("jobs?limit=0", "limit", "must be at least 1"),
        ("jobs?offset=-1", "offset", "must be at least 0"),
        ("jobs?offset=99999999999999999999", "offset", "must be at most"),
        ("jobs?state=finished", "state", "states: created, queued"),
        ("jobs?project=Bad%20Name", "project", "lowercase"),
        ("jobs/1/logs?offset=x", "offset", "must be a whole number"),
        ("jobs/1/logs?follow=maybe", "follow", "must be true or false"),
    ],
)
def test_bad_query_arguments_are_400s_naming_the_argument(service, alice, path, field, fragment):
    resp = service.api("GET", path, alice[1])
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field and fragment in resp.json()["error"], resp.json()


@pytest.mark.parametrize(
    "ref",
    ["99999999999999999999", "9223372036854775808", "0", "not-a-job", "a/b/c/d/e", "x/y/1"],
)
def test_any_job_reference_is_a_4xx(service, alice, ref):
    for path in (f"jobs/{ref}", f"jobs/{ref}/logs", f"jobs/{ref}/output", f"jobs/{ref}/metrics"):
        resp = service.api("GET", path, alice[1])
        assert resp.status_code in (400, 404), (path, resp.status_code, resp.text)
        assert resp.json()["error"]


def test_a_huge_version_number_is_a_4xx(service, alice):
    name, token = alice
    service.api("POST", "datasets", token, json={"name": "mnist"})
    for number in ("99999999999999999999", "0", "two"):
        resp = service.api("GET", f"datasets/{name}/mnist/versions/{number}", token)
        assert resp.status_code == 400 and "must be a number from 1" in resp.json()["error"]
    resp = service.api("GET", f"datasets/{name}/mnist/versions/3", token)
    assert resp.status_code == 404 and "no versions yet" in resp.json()["error"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"\xff\xfe{", "not UTF-8"),
        (b"{", "not JSON"),
        (b'{"name": NaN}', "NaN is not a JSON number"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 deep"),
        (b'{"name": "x", "description": "\\ud800"}', "lone UTF-16 surrogate"),
    ],
)
def test_bodies_that_are_not_json_objects_are_400s(service, alice, body, fragment):
    for path in ("datasets", "jobs", "blobs/missing"):
        resp = service.api("POST", path, alice[1], data=body)
        assert resp.status_code == 400, (path, resp.text[:200])
        assert fragment in resp.json()["error"], resp.json()


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"name": "Not OK!"}, "name", "must be 1-100 lowercase letters"),
        ({"name": 7}, "name", "must be a string"),
        ({"name": "ok", "public": "yes"}, "public", "must be true or false"),
        ({"name": "ok", "colour": "red"}, "colour", "unknown field(s) colour"),
        ({}, "name", "is required"),
    ],
)
def test_bad_dataset_requests_name_the_field(service, alice, body, field, fragment):
    resp = service.api("POST", "datasets", alice[1], json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field and fragment in resp.json()["error"], resp.json()


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"path": "../../etc/passwd", "sha256": "a" * 64, "size": 1}, "'..' would point outside"),
        ({"path": "a", "sha256": "A" * 64, "size": 1}, "not a lowercase hex sha256"),
        ({"path": "a", "sha256": "a" * 64, "size": -1}, "must be at least 0"),
        ({"path": "a", "sha256": "a" * 64, "size": 2**70}, "must be at most"),
        ({"path": "a", "sha256": "a" * 64, "size": "1"}, "must be a whole number"),
        ({"path": "a", "sha256": "a" * 64}, "is required"),
    ],
)
def test_bad_manifests_are_refused_before_anything_is_kept(service, alice, entry, fragment):
    name, token = alice
    service.api("POST", "datasets", token, json={"name": "sneaky"})
    resp = service.api(
        "POST", f"datasets/{name}/sneaky/versions", token, json={"manifest": [entry]}
    )
    assert resp.status_code == 400 and resp.json()["field"] == "manifest", resp.text
    assert fragment in resp.json()["error"], resp.json()
    assert service.api("GET", f"datasets/{name}/sneaky", token).json()["versions"] == []


def test_a_manifest_naming_a_file_twice_is_refused(service, alice):
    name, token = alice
    service.api("POST", "datasets", token, json={"name": "twice"})
    entry = {"path": "a", "sha256": "a" * 64, "size": 1}
    resp = service.api(
        "POST", f"datasets/{name}/twice/versions", token, json={"manifest": [entry, entry]}
    )
    assert resp.status_code == 400 and "appears twice" in resp.json()["error"]


def test_uploads_whose_bytes_do_not_match_are_refused(service, alice):
    token = alice[1]
    resp = service.api("PUT", "blobs/" + "0" * 64, token, data=b"not those bytes")
    assert resp.status_code == 400 and "hash to" in resp.json()["error"]
    resp = service.api("POST", "blobs/pack", token, data=b"10\nshort")
    assert resp.status_code == 400
    assert "the pack ends 5 bytes short of a 10-byte blob" in resp.json()["error"]
    resp = service.api("POST", "blobs/pack", token, data=b"x\n")
    assert resp.status_code == 400 and "malformed pack" in resp.json()["error"]
    resp = service.api("POST", "blobs/missing", token, json={"blobs": ["nope"]})
    assert resp.status_code == 400 and resp.json()["field"] == "blobs"


def test_unknown_paths_and_methods_answer_in_the_api_s_words(service, alice):
    resp = service.api("GET", "no/such/thing", alice[1])
    assert resp.status_code == 404 and "nothing at" in resp.json()["error"]
    resp = service.api("DELETE", "datasets", alice[1])
    assert resp.status_code == 405 and resp.json()["error"]
    resp = service.api("PUT", "blobs/" + "z" * 64, alice[1], data=b"x")
    assert resp.status_code == 404


def test_pages_answer_errors_as_pages(service, alice):
    name, token = alice
    for path in (
        f"datasets/{name}/nope",
        f"datasets/{name}/nope/3",
        f"datasets/{name}/nope/99999999999999999999",
        "jobs/424242",
        "jobs/99999999999999999999",
        f"projects/{name}/nope",
        "jobs/424242/notebook",
        "no/such/page",
    ):
        resp = service.page(path, token)
        assert resp.status_code in (400, 404), (path, resp.status_code)
        assert resp.headers["Content-Type"].startswith("text/html"), path
        assert "<h1>" in resp.text and "Uncaught exception" not in resp.text, path


def test_the_error_body_is_json_with_the_same_words_everywhere(service, alice):
    resp = service.api("GET", f"datasets/{alice[0]}/nope", alice[1])
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/json"
    assert json.loads(resp.text) == {"error": f"no dataset {alice[0]}/nope that you can read"}


def test_a_limit_over_the_most_a_page_holds_is_read_as_the_most(service, alice):
    resp = service.api("GET", "jobs?limit=5000", alice[1])
    assert resp.status_code == 200 and resp.json() == []


def test_names_may_not_end_in_a_newline(service, alice):
    resp = service.api("POST", "datasets", alice[1], json={"name": "ok\n"})
    assert resp.status_code == 400 and resp.json()["field"] == "name"
    for path in ("jobs/cats%0A/1", f"datasets/{alice[0]}/ok%0A/versions/1%0A"):
        resp = service.api("GET", path, alice[1])
        assert resp.status_code == 400, (path, resp.text)


def test_an_unknown_field_inside_a_manifest_entry_is_named_where_it_is(service, alice):
    name, token = alice
    service.api("POST", "datasets", token, json={"name": "deep"})
    entry = {"path": "a", "sha256": "a" * 64, "size": 1, "colour": "red"}
    resp = service.api("POST", f"datasets/{name}/deep/versions", token, json={"manifest": [entry]})
    assert resp.status_code == 400
    assert resp.json() == {"error": "manifest.0.colour: is not a field here", "field": "manifest"}


def test_a_log_read_from_past_its_end_is_empty(service, alice):
    _name, token = alice
    job = service.api(
        "POST", "jobs", token, json={"project": "cats", "kind": "command", "command": "x"}
    ).json()
    resp = service.api("GET", f"jobs/{job['id']}/logs?offset=35184372088832", token)
    assert resp.status_code == 200 and resp.text == ""


def test_an_answer_given_before_the_request_was_read_says_the_connection_closes(service, alice):
    import socket

    host, port = service.url.removeprefix("http://").split(":")
    for request in (
        f"TRACE /services/floe/api/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: token {alice[1]}",
        "POST /services/floe/api/blobs/pack HTTP/1.1\r\nHost: x\r\nContent-Length: 5",
    ):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(request.encode() + b"\r\n\r\n")
            answer = sock.recv(65536).decode()
        assert answer.split()[1] in ("405", "401") and "Connection: close" in answer, answer
