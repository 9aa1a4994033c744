"""The run's own end, checked (a pytest plugin, loaded by ``tests/conftest.py``): once every
fixture has torn down, nothing the run started may still be there. What is looked at, and
how the run tells its own from another run's, is ``tests.leftovers``.

What bears the run's marks fails the run. What is new but unmarked fails it too when no other
test run or hub was seen on the machine meanwhile; otherwise it is only listed."""

from __future__ import annotations

import os
import secrets
import threading
import time

import pytest

from tests import leftovers
from tests.leftovers import Leftovers, Thing

# How long the end waits for what is still stopping (a process exits a moment after its
# signal); FLOE_TEST_LEFTOVER_WAIT overrides it.
WAIT_S = 10.0
# How often other runs are looked for while this one runs.
WATCH_S = 2.0

_CHECK = pytest.StashKey["Check"]()


class Check:
    """Started when the session starts: the first look, and a watch for other runs."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(8)
        os.environ[leftovers.RUN_VARIABLE] = self.token  # every child inherits it
        self.basetemp = ""
        self.own = {leftovers.process_key(os.getpid())}
        self.mine = leftovers.ancestors(os.getpid())  # this process and those above it
        self.before = leftovers.look()
        self.others: dict[str, Thing] = {}
        self.found = Leftovers()
        self.failing: tuple[Thing, ...] = ()
        self._stop = threading.Event()
        self._note_others(self.before)
        self._watch = threading.Thread(target=self._watching, name="leftover-watch", daemon=True)
        self._watch.start()

    def marks(self) -> list[str]:
        marks = [f"{leftovers.RUN_VARIABLE}={self.token}", *leftovers.claimed()]
        if self.basetemp:
            marks.append(self.basetemp.rstrip("/") + "/")
        return marks

    def _note_others(self, things: list[Thing]) -> None:
        for thing in leftovers.other_runs(things, self.marks(), self.mine):
            self.others.setdefault(thing.key, thing)

    def _watching(self) -> None:
        while not self._stop.wait(WATCH_S):
            self._note_others(leftovers.processes())

    def finish(self) -> None:
        """The last look: what is new, waiting up to WAIT_S for it to go."""
        self._stop.set()
        self._watch.join()
        deadline = time.monotonic() + float(os.environ.get("FLOE_TEST_LEFTOVER_WAIT", WAIT_S))
        while True:
            after = leftovers.look()
            self._note_others(after)
            self.found = leftovers.left_behind(self.before, after, self.marks(), self.own)
            self.failing = self.found.ours + (() if self.others else self.found.unmarked)
            if not self.failing or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def report(self) -> list[str]:
        lines = []
        if self.failing:
            lines.append("The run left these behind (still there after every fixture's end):")
            lines += [f"  {line}" for line in leftovers.describe(self.failing)]
        maybe = [t for t in self.found.unmarked if t not in self.failing]
        if maybe:
            lines.append(
                "New since the run began, but maybe another run's (seen meanwhile: "
                + "; ".join(t.shown[:80] for t in list(self.others.values())[:3])
                + "):"
            )
            lines += [f"  {line}" for line in leftovers.describe(maybe)]
        return lines


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_CHECK] = Check()


@pytest.fixture(scope="session", autouse=True)
def _run_temporary_folder(request: pytest.FixtureRequest, tmp_path_factory) -> None:
    """What lies under the run's temporary folder is the run's."""
    check = request.config.stash.get(_CHECK, None)
    if check is not None:
        check.basetemp = str(tmp_path_factory.getbasetemp())


@pytest.hookimpl(trylast=True)  # after pytest's own: every fixture has torn down by then
def pytest_sessionfinish(session: pytest.Session) -> None:
    check = session.config.stash.get(_CHECK, None)
    if check is None:
        return
    check.finish()
    if check.failing and session.exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    check = config.stash.get(_CHECK, None)
    if check is None or not check.found:
        return
    terminalreporter.write_sep(
        "=", "left behind", red=bool(check.failing), yellow=not check.failing
    )
    for line in check.report():
        terminalreporter.write_line(line)
