"""`pip install floe` on a laptop is the command line alone: no hub, no database, no Docker."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.floe_cli import FLOE, LAPTOP


def _laptop(*args: str, cwd: object = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(LAPTOP)}
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_command_line_runs_with_only_its_own_dependencies(tmp_path):
    # The laptop Python really refuses what only the platform ([hub]) brings...
    for platform_module in ("sqlalchemy", "tornado", "docker", "jupyterhub", "traitlets"):
        refused = _laptop(sys.executable, "-c", f"import {platform_module}")
        assert refused.returncode == 1, platform_module
        assert "the floe command may not import it" in refused.stderr
    # ...and every verb of the command line loads there (the hub-facing ones run in
    # test_cli_jobs.py and test_datasets.py the same way).
    verbs = ("login", "data", "init", "run", "status", "logs", "stop", "rerun", "output", "serve")
    for verb in verbs:
        shown = _laptop(str(FLOE), verb, "--help")
        assert shown.returncode == 0, shown.stderr
        assert f"usage: floe {verb}" in shown.stdout
    refused = _laptop(str(FLOE), "init", "Bad Name", cwd=tmp_path)
    assert refused.stderr.startswith("floe: project 'Bad Name'"), refused.stderr
    assert _laptop(str(FLOE), "init", "cats", cwd=tmp_path).returncode == 0
