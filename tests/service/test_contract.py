"""The API's contract, exactly as the OpenAPI document states it: times are RFC 3339 in UTC,
every path parameter carries the pattern its handler takes, and a method a path does not
declare is answered 405 with the methods it does declare in ``Allow``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe.core.refs import MAX_NUMBER, OWNER_PATTERN, JobRef, TaskRef, check_name, check_owner
from floe.core.times import rfc3339
from floe.trees.tree import check_path, check_sha256
from floe_service.app import API_ROUTES
from floe_service.handlers import served_methods
from floe_service.operations import PATH_PARAMS
from floe_service.schemas.jobs import PROJECT_QUERY
from tests.service.conftest import PREFIX
from tests.service.helpers import make_dataset, submit, wait_for

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What each path parameter's handler does with it: raises on what it does not take.
TAKES = {
    "owner": lambda text: check_owner(text, text),
    "name": check_name,
    "job": JobRef.parse,
    "task": TaskRef.parse,
    "path": check_path,
    "sha256": check_sha256,
    "digest": check_sha256,
    "container": lambda text: None,  # its route's pattern is its handler's check
}
# A value of each path parameter, to reach every path.
SAMPLE = {
    "owner": "alice",
    "name": "mnist",
    "number": "1",
    "job": "1",
    "task": "1",
    "schedule_id": "1",
    "token_id": "1",
    "path": "a.txt",
    "sha256": "0" * 64,
    "digest": "0" * 64,
    "container": "floe-job-1",
    "grantee": "bob",
    "team": "ml-lab",
    "user": "bob",
}


@pytest.fixture(scope="module")
def document(service):
    return service.api("GET", "openapi.json", None).json()


@pytest.fixture(scope="module")
def carol(service):
    return service.user("carol")


def _times(value: object, key: str = "") -> list[tuple[str, str]]:
    """Every (key, value) of ``value`` whose key names a time."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _times(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v, key)]
    timely = key in ("created", "started", "finished", "time", "next_run", "last_run")
    return [(key, value)] if timely and value is not None else []


def test_times_in_answers_are_rfc3339_in_utc(service):
    name, token = service.user("timely")
    make_dataset(service, token, "mnist", {"a.csv": b"1"})
    job = wait_for(service, token, submit(service, token, kind="command", command="train"))
    resp = service.api(
        "POST",
        "schedules",
        token,
        json={"project": "cats", "kind": "command", "command": "train", "cron": "@daily"},
    )
    assert resp.status_code == 201, resp.text
    answers = [
        service.api("GET", f"jobs/{job['id']}", token).json(),
        service.api("GET", "jobs", token).json(),
        service.api("GET", f"datasets/{name}/mnist", token).json(),
        service.api("GET", f"datasets/{name}/mnist/versions/1", token).json(),
        service.api("GET", "schedules", token).json(),
    ]
    times = [t for answer in answers for t in _times(answer)]
    assert {key for key, _ in times} >= {"created", "started", "finished", "time", "next_run"}
    for key, value in times:
        assert RFC3339_UTC.fullmatch(value), (key, value)
        assert datetime.fromisoformat(value).utcoffset() == timedelta(0)
    started, finished = (datetime.fromisoformat(job[k]) for k in ("started", "finished"))
    assert timedelta(0) <= finished - started < timedelta(minutes=1)


def test_the_document_says_which_strings_are_times(document):
    times, others = set(), set()
    for schema in document["components"]["schemas"].values():
        for key, prop in schema.get("properties", {}).items():
            kinds = prop.get("anyOf", [prop])
            dated = any(kind.get("format") == "date-time" for kind in kinds)
            (times if dated else others).add(key)
    assert times == {"created", "started", "finished", "time", "next_run", "last_run", "last_used"}
    assert not times & others


def test_a_stored_time_is_written_in_utc_whatever_zone_it_was_read_in():
    naive = datetime(2026, 12, 7, 9, 58, 35, 526976)  # SQLite's: stored as UTC
    assert rfc3339(naive) == "2026-12-07T09:58:35.526976Z"
    paris = datetime(2026, 12, 7, 10, 58, 35, tzinfo=timezone(timedelta(hours=1)))
    assert rfc3339(paris) == "2026-12-07T09:58:35Z"
    assert rfc3339(naive.replace(tzinfo=UTC)) == rfc3339(naive)


def test_pages_give_their_times_in_rfc3339_too(service):
    name, token = service.user("pager")
    job = wait_for(service, token, submit(service, token, kind="command", command="train"))
    for page in (f"jobs/{job['id']}", f"projects/{name}/cats"):
        html = service.page(page, token).text
        stamps = re.findall(r'<time datetime="([^"]+)">([^<]+) UTC</time>', html)
        assert stamps, page
        for stamp, shown in stamps:
            assert RFC3339_UTC.fullmatch(stamp), (page, stamp)
            assert stamp.replace("T", " ").startswith(shown), (page, stamp, shown)


def test_every_path_parameter_carries_the_pattern_or_bounds_its_handler_takes(document):
    seen = set()
    for template, methods in document["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                if param["in"] != "path":
                    continue
                seen.add(param["name"])
                schema = param["schema"]
                if schema["type"] == "integer":
                    assert (schema["minimum"], schema["maximum"]) == (1, MAX_NUMBER), template
                else:
                    assert schema["type"] == "string", (method, template, param["name"])
                    assert schema["pattern"].startswith("^(?:"), (method, template)
                    assert schema["pattern"].endswith(")$"), (method, template)
                assert "404" in op["responses"], (method, template)
    assert seen == set(PATH_PARAMS)


@pytest.mark.parametrize("name", sorted(TAKES))
def test_what_a_path_pattern_allows_reaches_its_handler_and_is_taken(name):
    param = PATH_PARAMS[name]

    values = st.from_regex(param.schema["pattern"], fullmatch=True)
    if "maxLength" in param.schema:
        values = values.filter(lambda value: len(value) <= param.schema["maxLength"])

    @EXAMPLES
    @given(values)
    def taken(value: str) -> None:
        # Sent as one segment, its slashes percent-encoded, it reaches the handler...
        assert re.fullmatch(param.pattern, quote(value, safe="")), value
        TAKES[name](value)  # ... which takes it

    taken()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "jobs/{n}/logs"),
        ("GET", "jobs/carol/cats/{n}"),
        ("GET", "tasks/{n}"),
        ("GET", "schedules/{n}"),
        ("DELETE", "serving-tokens/{n}"),
        ("GET", "datasets/carol/mnist/versions/{n}"),
    ],
)
def test_an_id_or_number_past_the_database_s_integers_is_refused_not_a_server_error(
    service, carol, method, path
):
    """Ids and numbers are INTEGER columns (32 bits on PostgreSQL, where `make test` runs this
    tier again): the largest is looked for, one past it refused before the database is asked."""
    assert service.api(method, path.format(n=MAX_NUMBER), carol[1]).status_code == 404
    past = service.api(method, path.format(n=MAX_NUMBER + 1), carol[1])
    assert past.status_code == 400, past.text
    assert "must be a number" in past.json()["error"]


@EXAMPLES
@given(st.from_regex(PATH_PARAMS["job"].schema["pattern"], fullmatch=True))
def test_a_job_named_as_the_document_allows_is_looked_for_never_refused(service, carol, job):
    resp = service.api("GET", f"jobs/{quote(job, safe='')}/logs", carol[1])
    assert resp.status_code == 404, (job, resp.text)


@EXAMPLES
@given(st.from_regex(PROJECT_QUERY, fullmatch=True))
def test_a_project_filter_the_document_allows_is_taken(service, carol, project):
    resp = service.api("GET", "jobs", carol[1], params={"project": project})
    assert resp.status_code == 200, (project, resp.text)


def test_an_owner_s_pattern_spells_out_the_white_space_python_s_would_refuse():
    owner = re.compile(OWNER_PATTERN)
    for code in range(0x10000):
        char = chr(code)
        control = code < 0x20 or code == 0x7F
        refused = char in "/:" or control or re.fullmatch(r"\s", char) is not None
        assert (owner.fullmatch(char) is None) == refused, hex(code)


def test_each_api_route_serves_exactly_the_methods_it_declares():
    for route in API_ROUTES:
        declared = {method.upper() for method in route.operations()}
        assert set(served_methods(route.handler)) == declared, route.template


def test_an_undeclared_method_is_405_with_the_declared_ones_in_allow(service, document, carol):
    for template, methods in document["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template)
        declared = {method.upper() for method in methods}
        undeclared = {"TRACE"}  # refused before anything else is asked
        if not template.startswith("/nodes/"):  # there a node's token is asked for first
            undeclared |= {"HEAD", "OPTIONS", "PATCH", "GET", "POST", "PUT", "DELETE"} - declared
        for method in undeclared:
            resp = requests.request(
                method,
                f"{service.url}{PREFIX}api{path}",
                headers={"Authorization": f"token {carol[1]}"},
                timeout=30,
            )
            assert resp.status_code == 405, (method, template, resp.status_code)
            allowed = {m.strip() for m in resp.headers["Allow"].split(",")}
            assert allowed == declared, (method, template)


def test_a_page_answers_405_with_allow_too(service, carol):
    resp = requests.delete(
        f"{service.url}{PREFIX}datasets", headers={"Authorization": f"token {carol[1]}"}
    )
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"
    assert resp.headers["Content-Type"].startswith("text/html")


def test_stopping_a_job_that_ended_is_200_as_documented(service, document):
    _name, token = service.user("stopper")
    job = wait_for(service, token, submit(service, token, kind="command", command="train"))
    assert {"200", "202"} <= set(document["paths"]["/jobs/{job}/stop"]["post"]["responses"])
    resp = service.api("POST", f"jobs/{job['id']}/stop", token)
    assert resp.status_code == 200 and resp.json()["state"] == "complete"


def test_a_whole_number_may_be_written_as_json_writes_it_3_or_3_0(service):
    name, token = service.user("whole")
    service.api("POST", "datasets", token, json={"name": "w"})
    entry = {"path": "a", "sha256": "a" * 64, "size": 1.0, "mode": 420.0}
    resp = service.api("POST", f"datasets/{name}/w/versions", token, json={"manifest": [entry]})
    assert resp.status_code == 409 and resp.json()["missing"] == ["a" * 64], resp.text
    for size in (1.5, "1", True):
        entry = {"path": "a", "sha256": "a" * 64, "size": size}
        resp = service.api("POST", f"datasets/{name}/w/versions", token, json={"manifest": [entry]})
        assert resp.status_code == 400 and "whole number" in resp.json()["error"], size
