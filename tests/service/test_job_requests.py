"""Every field of a job request is checked, and its error names the field."""

from __future__ import annotations

import pytest

from tests.notebooks import notebook


@pytest.mark.parametrize(
    ("body", "status", "field", "fragment"),
    [
        (
            {"kind": "command", "command": "true", "machine": "huge"},
            400,
            "machine",
            "valid machines: cpu-small",
        ),
        (
            {"kind": "command", "command": "true", "environment": "r"},
            400,
            "environment",
            "valid environments: python",
        ),
        (
            {"kind": "command", "command": "true", "datasets": ["nope-xyz"]},
            404,
            "datasets",
            "no dataset",
        ),
        (
            {"kind": "command", "command": "true", "datasets": ["a:1:/etc"]},
            400,
            "datasets",
            "must be inside /input",
        ),
        ({"kind": "command", "command": ""}, 400, "command", "non-empty"),
        ({"kind": "notebook", "notebook": {"cells": "x"}}, 400, "notebook", "list of cells"),
        ({"kind": "notebook", "name": "../x.ipynb", "notebook": notebook()}, 400, "name", ".."),
        (
            {"kind": "notebook", "notebook": notebook(), "parameters": {"import": 1}},
            400,
            "parameters",
            "not a Python variable name",
        ),
        ({"kind": "train", "command": "x"}, 400, "kind", "kinds: notebook, command, snapshot"),
        ({"kind": "command", "command": "x", "project": "Bad Name"}, 400, "project", "lowercase"),
        ({"kind": "command", "command": "x", "colour": "red"}, 400, "colour", "unknown field"),
        (
            {
                "kind": "command",
                "command": "x",
                "code": [{"path": "a.py", "sha256": "0" * 64, "size": 1}],
            },
            409,
            "code",
            "have not been uploaded",
        ),
        ({"kind": "command", "command": 3}, 400, "command", "must be a string"),
        ({"kind": "command", "command": "x", "datasets": "mnist"}, 400, "datasets", "a list"),
        ({"kind": "command", "command": "x", "datasets": [1]}, 400, "datasets", "a string"),
        ({"kind": "command", "command": "x", "parameters": [1]}, 400, "parameters", "an object"),
        (
            {"kind": "notebook", "notebook": {"cells": [], "nbformat": 3}},
            400,
            "notebook",
            "save as 4",
        ),
        (
            {"kind": "command", "command": "x", "machine": "gpu-1", "datasets": ["m:in put"]},
            400,
            "datasets",
            "must be a word",
        ),
        (
            {"kind": "command", "command": "x", "datasets": ["a/b/c/d/e"]},
            400,
            "datasets",
            "not a dataset",
        ),
        (
            {"kind": "command", "command": "x", "datasets": ["m:1", "n:1:/input/m"]},
            400,
            "datasets",
            "two datasets are mounted at /input/m",
        ),
        (
            {"kind": "command", "command": "x", "datasets": ["m:input", "n:1"]},
            400,
            "datasets",
            "/input/n is inside /input",
        ),
    ],
)
def test_bad_job_requests_name_the_field(service, body, status, field, fragment):
    _name, token = service.user("alice")
    resp = service.api("POST", "jobs", token, json={"project": "cats", **body})
    assert resp.status_code == status, resp.text
    error = resp.json()
    assert error["field"] == field and fragment in error["error"], error


def test_missing_code_blobs_are_listed_so_the_client_can_send_them(service):
    _name, token = service.user("alice")
    code = [{"path": "a.py", "sha256": "0" * 64, "size": 1}]
    resp = service.api(
        "POST",
        "jobs",
        token,
        json={"project": "cats", "kind": "command", "command": "x", "code": code},
    )
    assert resp.status_code == 409 and resp.json()["missing"] == ["0" * 64]


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"command": "rm -rf /"}, "command", "unknown field(s) command"),
        ({"machine": "huge"}, "machine", "valid machines"),
        ({"parameters": {"1x": 1}}, "parameters", "not a Python variable name"),
    ],
)
def test_a_rerun_changes_only_what_it_may(service, changes, field, fragment):
    _name, token = service.user("alice")
    first = service.api(
        "POST", "jobs", token, json={"project": "cats", "kind": "command", "command": "x"}
    ).json()
    resp = service.api("POST", f"jobs/{first['id']}/rerun", token, json=changes)
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field and fragment in resp.json()["error"], resp.json()


@pytest.mark.parametrize(
    ("datasets", "fragment"),
    [
        (["m:v2"], "must be a number from 1"),
        (["m:99999999999999999999"], "must be a number from 1"),
        (["a:/input/a", "b:/input/a-b", "c:/input/a/c"], "/input/a/c is inside /input/a"),
        (["m:input\n"], "must be a word like 'input'"),
    ],
)
def test_mount_specs_that_could_be_misread_are_refused(service, datasets, fragment):
    _name, token = service.user("alice")
    body = {"project": "cats", "kind": "command", "command": "x", "datasets": datasets}
    resp = service.api("POST", "jobs", token, json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == "datasets" and fragment in resp.json()["error"], resp.json()


def test_text_that_cannot_be_kept_is_refused_and_the_job_list_stays_readable(service):
    _name, token = service.user("alice")
    raw = b'{"project": "cats", "kind": "command", "command": "x", "parameters": {"a": "\\ud800"}}'
    resp = service.api("POST", "jobs", token, data=raw)
    assert resp.status_code == 400 and "surrogate" in resp.json()["error"]
    deep = {"project": "cats", "kind": "command", "command": "x"}
    nested: dict = {}
    deep["parameters"] = {"a": nested}
    for _ in range(100):
        nested["b"] = nested = {}
    assert service.api("POST", "jobs", token, json=deep).status_code == 400
    assert service.api("GET", "jobs", token).status_code == 200


def test_a_refused_submit_leaves_no_empty_project_behind(service):
    _name, token = service.user("alice")
    body = {"project": "never", "kind": "command", "command": "x", "machine": "huge"}
    assert service.api("POST", "jobs", token, json=body).status_code == 400
    assert service.api("GET", "projects", token).json() == []
