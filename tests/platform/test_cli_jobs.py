"""The FloydHub workflow with the installed `floe` command: init, data upload, run with
--data, follow, output, reuse the output as a dataset, re-run, stop, and every error case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.floe_cli import floe
from tests.notebooks import notebook
from tests.wheels import make_wheel

pytestmark = pytest.mark.integration

TRAIN = """\
import json, os
scale = int(os.environ.get("SCALE", "1"))
numbers = [int(x) for x in open("/input/digits/numbers.txt").read().split()]
total = sum(numbers) * scale
print(json.dumps({"step": 1, "total": total}))
open("/output/sum.txt", "w").write(str(total))
print("code files:", sorted(os.listdir("/code")))
"""


def make_local_wheel(folder: Path) -> str:
    """A tiny wheel in the job's folder, so floe_requirements.txt needs no package index."""
    name, data = make_wheel("floehello", "GREETING = 'hello from a requirement'\n")
    (folder / name).write_bytes(data)
    return name


def test_floydhub_workflow_with_the_floe_command(hub, user_token, tmp_path):
    name, token = user_token("cli")

    def run(*args, cwd):
        return floe(hub, token, *args, cwd=cwd)

    digits = tmp_path / "digits"
    digits.mkdir()
    (digits / "numbers.txt").write_text("1 2 3 4")
    assert run("data", "init", "digits", cwd=digits).returncode == 0
    assert run("data", "upload", "-m", "four numbers", cwd=digits).returncode == 0

    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    (project / "big.bin").write_bytes(b"x" * 1000)
    (project / ".floeignore").write_text("# not code\nbig.bin\n")
    wheel = make_local_wheel(project)
    (project / "floe_requirements.txt").write_text(f"./{wheel}\n")

    assert run("run", "python3 train.py", cwd=project).returncode == 2  # not a project yet
    init = run("init", "cats", cwd=project)
    assert init.returncode == 0 and (project / ".floe").exists(), init.stderr

    first = run(
        "run",
        "--data",
        "digits:1",
        "--param",
        "scale=2",
        "-m",
        "first",
        "--follow",
        "SCALE=2 python3 train.py && python3 -c 'import floehello; print(floehello.GREETING)'",
        cwd=project,
    )
    assert first.returncode == 0, first.stderr
    assert f"{name}/cats/1" in first.stdout and "/services/floe/jobs/" in first.stdout
    assert '{"step": 1, "total": 20}' in first.stdout
    assert "building environment: python + floe_requirements.txt" in first.stdout
    assert "hello from a requirement" in first.stdout
    assert "big.bin" not in first.stdout and "train.py" in first.stdout

    status = run("status", cwd=project)
    assert f"{name}/cats/1" in status.stdout and "complete" in status.stdout
    detail = json.loads(run("status", "1", "--json", cwd=project).stdout)
    assert detail["state"] == "complete" and detail["parameters"] == {"scale": 2}
    assert detail["datasets"][0]["source"] == f"{name}/digits:1"
    assert "complete" in run("status", "cats/1", cwd=project).stdout

    out = tmp_path / "out"
    assert run("output", "1", "--download", str(out), cwd=project).returncode == 0
    assert (out / "sum.txt").read_text() == "20"
    listing = run("output", "1", cwd=project)
    assert "sum.txt" in listing.stdout and f"{name}/cats/1/output" in listing.stdout
    metrics = json.loads(run("metrics", "1", "--json", cwd=project).stdout)
    assert metrics["last"] == {"step": 1, "total": 20}
    assert "total" in run("logs", "1", cwd=project).stdout

    # The output becomes a dataset version without re-uploading, then feeds the next job.
    added = run("data", "add", "1", "sums", cwd=project)
    assert added.returncode == 0 and f"{name}/sums:1" in added.stdout, added.stderr
    second = run("run", "--data", "sums:1", "-f", "cat /input/sums/sum.txt", cwd=project)
    assert second.returncode == 0 and "20" in second.stdout
    again = run(
        "run", "--data", "cats/1/output:/input/prev", "-f", "cat /input/prev/sum.txt", cwd=project
    )
    assert again.returncode == 0 and "20" in again.stdout

    # Re-run job 1 with one thing changed: same code and inputs.
    rerun = run("rerun", "1", "--param", "scale=3", "--follow", cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{name}/cats/4" in rerun.stdout
    redo = json.loads(run("status", "4", "--json", cwd=project).stdout)
    assert redo["parameters"] == {"scale": 3} and redo["code_tree"] == detail["code_tree"]

    # A failing job: --follow exits with the job's own exit code.
    failed = run("run", "-f", "echo about to fail; exit 3", cwd=project)
    assert failed.returncode == 3 and "about to fail" in failed.stdout
    assert "error: exit 3" in failed.stderr

    # A notebook job from the command line, parameters injected into the tagged cell.
    square = notebook("print('n squared is', n * n)", parameters="n = 1")
    (project / "square.ipynb").write_text(json.dumps(square))
    nb_run = run("run", "--param", "n=7", "-f", "square.ipynb", cwd=project)
    assert nb_run.returncode == 0, nb_run.stderr
    assert "[cell 2]" in nb_run.stdout and "n squared is 49" in nb_run.stdout

    # A long job, stopped.
    long = run("run", "sleep 300", cwd=project)
    job = long.stdout.split()[0]
    assert run("stop", job, cwd=project).returncode == 0
    follow = run("logs", "-f", job, cwd=project)
    assert follow.returncode == 143  # the job's own exit code: SIGTERM
    assert json.loads(run("status", job, "--json", cwd=project).stdout)["state"] == "stopped"

    envs = run("env", "ls", cwd=project)
    assert "python" in envs.stdout
    machines = run("machine", "ls", cwd=project)
    assert "cpu-small" in machines.stdout and "GPUs: 1 of 1 free" in machines.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--machine", "huge", "true"], "valid machines: cpu-small"),
        (["run", "--env", "matlab", "true"], "valid environments: python"),
        (["run", "--data", "nope-never", "true"], "no dataset"),
        (["run", "--data", "mnist:1:/etc", "true"], "must be inside /input"),
        (["run", "--param", "lr", "true"], "write it as NAME=VALUE"),
        (["run", "--param", "class=1", "true"], "not a Python variable name"),
        (["status", "cats/99"], "no job cats/99"),
        (["logs", "someone/else/1"], "no job someone/else/1"),
    ],
)
def test_cli_errors_say_what_would_be_right(hub, user_token, tmp_path, args, fragment):
    _name, token = user_token("cli")
    assert floe(hub, token, "init", "cats", cwd=tmp_path).returncode == 0
    result = floe(hub, token, *args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert fragment in result.stderr


def test_unknown_dataset_suggests_close_names(hub, user_token, tmp_path):
    _name, token = user_token("cli")
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    floe(hub, token, "data", "init", "mnist", cwd=folder)
    floe(hub, token, "data", "upload", cwd=folder)
    floe(hub, token, "init", "cats", cwd=tmp_path)
    result = floe(hub, token, "run", "--data", "mnsit", "true", cwd=tmp_path)
    assert result.returncode == 2 and "did you mean" in result.stderr and "mnist" in result.stderr


def test_code_over_the_size_limit_is_refused_naming_the_biggest_file(hub, user_token, tmp_path):
    _name, token = user_token("cli")
    floe(hub, token, "init", "cats", cwd=tmp_path)
    (tmp_path / "weights.ckpt").write_bytes(b"\0" * (2 << 20))
    result = floe(hub, token, "run", "true", cwd=tmp_path, env={"FLOE_CODE_MAX_SIZE": "1Mi"})
    assert result.returncode == 2
    assert "weights.ckpt" in result.stderr and ".floeignore" in result.stderr


def test_run_without_a_login_or_a_hub_says_what_to_do(hub, tmp_path):
    (tmp_path / ".floe").write_text('{"project": "cats"}')
    no_login = floe(hub, None, "run", "true", cwd=tmp_path, home=tmp_path)
    assert no_login.returncode == 2 and "floe login --url" in no_login.stderr
    down = floe(
        hub,
        None,
        "run",
        "true",
        cwd=tmp_path,
        home=tmp_path,
        env={"FLOE_URL": "http://127.0.0.1:9", "FLOE_TOKEN": "x"},
    )
    assert down.returncode == 1 and "could not reach Floe at http://127.0.0.1:9" in down.stderr
