"""`make run` and `make test` tell each setup step in one line (scripts/step.sh); what the step
printed is kept in the data dir's logs/setup/, and shown in part when the step fails."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.hub_process import REPO_ROOT

STEP = REPO_ROOT / "scripts" / "step.sh"


def run_step(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOE_DATA_DIR": str(data_dir)}
    env.pop("FLOE_STEP_OUTCOME", None)
    return subprocess.run(
        ["bash", str(STEP), *args], capture_output=True, text=True, env=env, timeout=30
    )


def test_a_passing_step_prints_one_line_with_its_time_and_logs_the_rest(tmp_path):
    done = run_step(
        tmp_path, "demo", "demo step", "ready", "bash", "-c", "echo chatter; echo warning >&2"
    )
    assert done.returncode == 0
    assert re.fullmatch(r"  demo step \.+ ready \(\d+\.\d s\)\n", done.stdout), done.stdout
    assert done.stderr == ""
    log = (tmp_path / "logs" / "setup" / "demo.log").read_text()
    assert "chatter\n" in log and "warning\n" in log


def test_a_step_says_what_its_command_reported_doing(tmp_path):
    report = (
        'echo built >>"$FLOE_STEP_OUTCOME"; echo "pushed to 10.0.0.1:5000" >>"$FLOE_STEP_OUTCOME"'
    )
    done = run_step(tmp_path, "images", "image", "done", "bash", "-c", report)
    assert done.returncode == 0
    assert re.fullmatch(
        r"  image \.+ built, pushed to 10\.0\.0\.1:5000 \(\d+\.\d s\)\n", done.stdout
    )


def test_a_failing_step_names_its_log_shows_its_tail_and_fails(tmp_path):
    noisy = "for i in $(seq 1 30); do echo line $i; done; exit 3"
    done = run_step(tmp_path, "demo", "demo step", "ready", "bash", "-c", noisy)
    assert done.returncode == 3
    assert re.fullmatch(r"  demo step \.+ failed \(\d+\.\d s\)\n", done.stdout), done.stdout
    log = tmp_path / "logs" / "setup" / "demo.log"
    assert str(log) in done.stderr
    shown = [line.removeprefix("    | ") for line in done.stderr.splitlines()[1:]]
    assert shown == [f"line {i}" for i in range(11, 31)]
    assert "line 1\n" in log.read_text()


def test_make_tells_a_current_venv_in_one_line(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml: nothing to install
    # Not the flags of a `make test` this may run under.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["FLOE_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        ["make", f"VENV={venv}", "venv"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"  venv \(pip\) \.+ up to date \(\d+\.\d s\)\n", done.stdout), done.stdout
    assert "is up to date" in (tmp_path / "data" / "logs" / "setup" / "venv.log").read_text()
