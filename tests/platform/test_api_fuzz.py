"""Schemathesis against the real service behind the hub's proxy, every check it has: whatever a
client sends to any operation of the OpenAPI document, the answer is what the document says
(no server error, a documented status, the documented shape and headers, times in RFC 3339),
requests the document allows are taken, requests it refuses are refused, and a method it
does not declare is answered 405 with ``Allow``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 25  # per operation and phase: enough to reach every branch, bounded in time
SEED = 20261122
OPERATIONS = 65

# The one check left out, and only on these operations: positive_data_acceptance (a request
# the document allows is taken). What their bodies must also be, JSON Schema cannot say, so
# the service refuses (400) some requests the document allows. Every other check runs on
# them, and every check on every other operation.
RULES_BEYOND_THE_SCHEMA = {
    ("PUT", "/blobs/{sha256}"): "the bytes sent must hash to the sha256 in the path",
    ("POST", "/blobs/pack"): "the bytes must be '<size>\\n' and that many bytes, repeated",
    ("POST", "/datasets/{owner}/{name}/versions"): (
        "a manifest names each path once, and no file inside another file's path"
    ),
    ("POST", "/environments"): (
        "requirements in pip's format, naming a package; built on an environment there is"
    ),
    # A job's request: a notebook job sends a notebook (nbformat 4), a command job a command;
    # its environment, machine and datasets are the deployment's, max_runtime at most its
    # ceiling; a re-run, a task and a schedule take the same (and a sweep, a cron expression).
    ("POST", "/jobs"): "fields that depend on each other and on the deployment",
    ("POST", "/jobs/{job}/rerun"): "an environment, machine and datasets of the deployment",
    ("POST", "/tasks"): "a job's request and a sweep of at least one value",
    ("POST", "/schedules"): "a job's request and a cron expression (its grammar, its interval)",
}


def config(reasons: dict[tuple[str, str], str]) -> str:
    """schemathesis.toml: every check, less positive_data_acceptance on ``reasons``' operations.
    (Checks named on the command line would override a file's per-operation settings.)"""
    lines = ["[checks]", "enabled = true"]
    for (method, path), reason in reasons.items():
        lines += [
            "",
            f"# {reason}",
            "[[operations]]",
            f'include-method = "{method}"',
            f'include-path = "{path}"',
            "checks.positive_data_acceptance.enabled = false",
        ]
    return "\n".join(lines) + "\n"


def test_every_request_to_the_api_is_answered_as_the_document_says(
    hub, user_token, artifacts, tmp_path
):
    _name, token = user_token("fuzzer")
    settings = tmp_path / "schemathesis.toml"
    settings.write_text(config(RULES_BEYOND_THE_SCHEMA))
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(settings),
            "run",
            f"{hub.url}/services/floe/api/openapi.json",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            # One worker: CPython 3.11.7's ast is not thread-safe, and schemathesis's coverage
            # phase parses source in its threads ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--no-color",
            "-H",
            f"Authorization: token {token}",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=tmp_path,  # schemathesis keeps a cache of crashes in its working directory
    )
    (artifacts / "schemathesis.txt").write_text(result.stdout + result.stderr)
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    selected = rf"Operations:\s+{OPERATIONS} selected / {OPERATIONS} total"
    assert re.search(selected, result.stdout), summary
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", summary).groups())
    assert generated == passed and generated > OPERATIONS * EXAMPLES, summary
    print(f"schemathesis: {OPERATIONS} operations, {generated} requests, every check passed")
