"""The suite's own end (tests/leftover_check.py): a run that leaves a process running fails
and names it; what another run or session made meanwhile is not this run's."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.hub_process import REPO_ROOT
from tests.leftovers import (
    RUN_VARIABLE,
    Thing,
    end_processes,
    left_behind,
    other_runs,
    processes_naming,
)

MARKS = [f"{RUN_VARIABLE}=ours", "/tmp/pytest-of-root/pytest-7/", "floenabc123"]


def _process(key: str, cmdline: str, *names: str, parent: str = "", hidden: bool = False):
    return Thing("process", key, cmdline, (cmdline, *names), hidden=hidden, parent=parent)


SHELL = _process("10@1", "bash")  # another session's shell, there before the run
PYTEST = _process("20@2", "python -m pytest tests/service")  # this run


def test_what_is_new_and_bears_the_runs_marks_is_the_runs():
    before = [SHELL, PYTEST, Thing("network namespace", "old", "old", ("old",))]
    registry = _process("30@3", "docker-registry serve /tmp/pytest-of-root/pytest-7/hub0/r.yml")
    namespace = Thing("network namespace", "floenabc123", "floenabc123", ("floenabc123",))
    orphan = _process("40@4", "sleep 600")
    network = Thing("docker network", "n1", "floe-net", ("floe-net",))
    after = before + [
        registry,
        namespace,
        orphan,  # under init: nobody's in particular, maybe this run's
        network,
        _process("50@5", "debootstrap bookworm", parent=SHELL.key),  # another session's
        _process("60@6", "moto_server", f"{RUN_VARIABLE}=theirs"),  # another run's
        _process("70@7", "jupyterhub-singleuser", hidden=True),  # in a container
        Thing("mount", "9 /var/lib/docker/x/merged", "merged", ("overlay",), hidden=True),
    ]
    found = left_behind(before, after, MARKS, own={PYTEST.key})
    assert set(found.ours) == {registry, namespace}
    assert set(found.unmarked) == {orphan, network}


def test_a_process_under_the_runs_own_is_the_runs_though_it_bears_no_mark():
    hub = _process("30@3", "jupyterhub -f jupyterhub_config.py", MARKS[0], parent=PYTEST.key)
    service = _process("31@3", "docker-registry serve /data/registry.yml", parent=hub.key)
    child = _process("32@3", "sleep 600", parent=PYTEST.key)  # started with an empty env
    found = left_behind([SHELL, PYTEST], [SHELL, PYTEST, hub, service, child], MARKS, {PYTEST.key})
    assert set(found.ours) == {hub, service, child} and not found.unmarked


def test_nothing_new_is_nothing_left_and_a_reused_pid_is_a_new_process():
    before = [SHELL, PYTEST, _process("80@1", "moto_server", MARKS[0])]
    assert not left_behind(before, before, MARKS, {PYTEST.key})
    again = _process("80@9", "moto_server", MARKS[0])  # the same pid, started later
    assert left_behind(before, [SHELL, PYTEST, again], MARKS, {PYTEST.key}).ours == (again,)


def test_other_runs_are_pytest_hubs_and_benchmarks_not_this_run_or_above_it():
    timeout = _process("5@1", "timeout 600 python -m pytest tests/service")  # above this run
    theirs = [
        _process("6@1", "/work/main/.venv/bin/python3 .venv/bin/pytest"),
        _process("7@1", "/tmp/venv/bin/python3 /tmp/venv/bin/jupyterhub -f jupyterhub_config.py"),
        _process("8@1", "python -m bench.swarm"),
        _process("9@1", "moto_server -p 5000", f"{RUN_VARIABLE}=theirs"),
    ]
    ours = _process("11@1", "jupyterhub -f jupyterhub_config.py", MARKS[0])
    plain = [_process("12@1", "bash"), _process("13@1", "dockerd")]
    found = other_runs([timeout, PYTEST, ours, *plain, *theirs], MARKS, {timeout.key, PYTEST.key})
    assert found == theirs


def _run_pytest(folder, test: str) -> subprocess.CompletedProcess:
    (folder / "test_inner.py").write_text(test)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "FLOE_TEST_LEFTOVER_WAIT": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.leftover_check", "-p", "no:cacheprovider"]
        + ["-q", "test_inner.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_that_leaves_a_process_running_fails_and_names_it(tmp_path):
    seconds = 3000 + uuid.uuid4().int % 1000  # tells this test's sleep from any other
    leaky = (
        "import subprocess\n"
        "def test_starts_a_server_and_forgets_it():\n"
        f"    subprocess.Popen(['sleep', '{seconds}'], start_new_session=True)\n"
    )
    try:
        run = _run_pytest(tmp_path, leaky)
        assert run.returncode == 1, run.stdout + run.stderr
        assert "1 passed" in run.stdout
        assert "The run left these behind" in run.stdout
        assert f"sleep {seconds}" in run.stdout
    finally:
        end_processes(processes_naming(f"sleep {seconds}"))


def test_what_a_fixture_stops_as_it_ends_is_not_left_behind(tmp_path):
    tidy = (
        "import subprocess, pytest\n"
        "@pytest.fixture(scope='session')\n"
        "def server():\n"
        "    proc = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "    yield proc\n"
        "    proc.terminate()\n"
        "    proc.wait()\n"
        "def test_uses_a_server(server):\n"
        "    assert server.poll() is None\n"
    )
    run = _run_pytest(tmp_path, tidy)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "The run left these behind" not in run.stdout
