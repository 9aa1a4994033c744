"""Schemathesis against the real service behind the hub's proxy: whatever a client sends to any
operation of the OpenAPI document, the answer is never a server error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 25  # per operation and phase: enough to reach every branch, bounded in time


def test_no_request_to_the_api_is_a_server_error(hub, user_token, artifacts, tmp_path):
    _name, token = user_token("fuzzer")
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{hub.url}/services/floe/api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "20261122",
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
        timeout=900,
        cwd=tmp_path,  # schemathesis keeps a cache of crashes in its working directory
    )
    (artifacts / "schemathesis.txt").write_text(result.stdout + result.stderr)
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert re.search(r"Operations:\s+51 selected / 51 total", result.stdout), summary
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", summary).groups())
    assert generated == passed and generated > 51 * EXAMPLES, summary
    print(f"schemathesis: 51 operations, {generated} requests, 0 server errors")
