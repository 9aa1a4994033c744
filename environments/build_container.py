"""An environment build's container from the outside: the read-only folder it builds from,
its output passed on as it comes (colours removed, an index's token masked), and the build
stopped when its job stops, its time is up or (where the engine cannot cap it) it has
written past ``max_bytes``."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import requests

from environments.requirements import Requirements
from floe.core.errors import FloeUserError
from floe.core.text import without_secrets

from .build_disk import MEASURE_EVERY_S, BuildDisk

CONTEXT = "/floe-env"
STRIP_SCRIPT = Path(__file__).with_name("strip_privileges.py")
# What of a failed build the job's reason shows.
FAILURE_LINES = 12
POLL_S = 1.0
LINE_MAX = 64 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

Say = Callable[[str], None]


class BuildFailed(FloeUserError):
    """The requirements did not install; the message ends with what pip said."""

    status = 400


class BuildStopped(FloeUserError):
    """The job whose environment was being built was stopped."""

    status = 409


def check_time(cancelled: Callable[[], bool], deadline: float, doing: str) -> None:
    """Refuse to go on once the job was stopped or the build's time is up."""
    if cancelled():
        raise BuildStopped("the job was stopped while its environment was " + doing)
    if time.monotonic() > deadline:
        raise BuildFailed(f"the environment's build took too long ({doing})")


def write_context(context: Path, requirements: Requirements, ca_bundle: str) -> str:
    """The build's read-only folder; returns pip's --cert option (or nothing)."""
    (context / "requirements.txt").write_text(requirements.text)
    shutil.copy(STRIP_SCRIPT, context / STRIP_SCRIPT.name)
    for name, data in requirements.local_files:
        target = context / "local" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    cert = ""
    if ca_bundle and Path(ca_bundle).is_file():
        shutil.copy(ca_bundle, context / "ca.crt")
        cert = f"--cert {CONTEXT}/ca.crt "
    for folder, _dirs, files in os.walk(context):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return cert


def follow(
    api: docker.APIClient,
    container: str,
    say: Say,
    cancelled: Callable[[], bool],
    deadline: float,
    max_log_bytes: int,
    disk: BuildDisk | None = None,
) -> list[str]:
    """Pass the build's output on as it comes (up to ``max_log_bytes``); stop it when the job
    stops, time is up or ``disk`` finds it past its cap. Returns its last lines."""
    tail: list[str] = []
    said = [0]

    def read() -> None:
        pending = b""
        for chunk in api.logs(container, stream=True, follow=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > LINE_MAX:  # output without line ends is passed on in pieces
                lines.append(pending)
                pending = b""
            for raw in lines:
                # The log and a failure's reason are shown: an index's token is not.
                line = _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r")
                line = without_secrets(line)
                tail[:] = [*tail[-(FAILURE_LINES - 1) :], line]
                said[0] += len(line) + 1
                if said[0] <= max_log_bytes:
                    say(line)

    reader = threading.Thread(target=read, name="floe-build-log", daemon=True)
    reader.start()
    next_measure = time.monotonic() + MEASURE_EVERY_S
    while True:
        try:
            api.wait(container, timeout=POLL_S)
            break
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            pass
        try:
            check_time(cancelled, deadline, "building")
            if disk and time.monotonic() >= next_measure:
                if why := disk.past():
                    raise BuildFailed(why)
                next_measure = time.monotonic() + MEASURE_EVERY_S
        except FloeUserError:
            try:
                api.kill(container)
            except docker.errors.APIError:
                pass  # it ended meanwhile: nothing to stop
            raise
    reader.join(timeout=10)
    return tail
