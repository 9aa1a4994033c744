"""A job's folder on the machine it runs on, sent back to the floe service: the node's side.

Where jobs run on other machines (``SwarmBackend`` with a volume driver), a job's container
mounts ``floe-job-<container>`` at /floe-job and ``floe-output-<container>`` at /output. The
node's volume plugin makes the folder (as ``JobFolder.prepare`` does on the service's machine)
and, while the job runs, sends what its log gained every ``ship_seconds``, so the service
charts metrics and shows the log as on one machine. Once the container has exited (the
engine unmounts ``floe-job-…``), it sends the rest of the log, the result note and /output
(a tar stream), says the folder is back, and removes it here. A folder that could not be sent
(the service away) is sent again at the next turn, also after the plugin restarts; one whose
job the service no longer waits for (409, 404) is dropped.

``floe-runner`` is Floe's part inside every job (``jobs/container``) as installed on the node.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from dataset_mounter.node_volumes import JOB_VOLUME, RUNNER_VOLUME
from floe.client.api import FloeClient, FloeError

from .job_container import RUNNER_DIR
from .job_folder import JobFolder

log = logging.getLogger("floe.node")

ENDED_MARK = ".ended"  # beside a job's folder: its container exited, the folder is to be sent
LOG_CHUNK = 1024**2
# The service no longer waits for this job (it ended, or is unknown): what is here is dropped.
NOT_WAITED_FOR = (404, 409)
# A folder whose log has not grown for this long is asked about (a container made and never
# started leaves its folder here, and no unmount ever says it is done).
ASK_AFTER_S = 30.0


class JobVolumes:
    """The plugin's job folders and the runner volume; one thread sends folders back."""

    def __init__(self, root: Path, client: FloeClient, ship_seconds: float = 1.0) -> None:
        self.root, self.client, self.ship_seconds = root, client, ship_seconds
        root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.sent: dict[str, int | None] = {}  # container -> log bytes the service has
        self.quiet_since: dict[str, float] = {}  # container -> when its log last grew
        for folder in root.iterdir():  # a restarted plugin goes on with what it held
            if folder.is_dir() and JOB_VOLUME.fullmatch(f"floe-job-{folder.name}"):
                self.sent[folder.name] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send_loop, name="floe-ship", daemon=True)
        self._thread.start()

    @staticmethod
    def owns(name: str) -> bool:
        return name == RUNNER_VOLUME or JOB_VOLUME.fullmatch(name) is not None

    @property
    def known(self) -> list[str]:
        with self.lock:
            containers = list(self.sent)
        held = [f"floe-{kind}-{c}" for c in containers for kind in ("job", "output")]
        return [RUNNER_VOLUME, *held]

    def _folder(self, container: str) -> JobFolder:
        return JobFolder(self.root / container)

    def path(self, name: str) -> str:
        if name == RUNNER_VOLUME:
            return str(RUNNER_DIR)
        kind, container = JOB_VOLUME.fullmatch(name).groups()
        folder = self._folder(container)
        if not folder.path.is_dir():
            return ""
        return str(folder.output if kind == "output" else folder.path)

    def create(self, name: str) -> None:
        """The engine makes the volume as it makes the container: the job's folder is made
        here now (the engine asks for the volume by name before it mounts it)."""
        if name == RUNNER_VOLUME:
            return
        _kind, container = JOB_VOLUME.fullmatch(name).groups()
        with self.lock:
            if container not in self.sent:
                (self.root / f"{container}{ENDED_MARK}").unlink(missing_ok=True)
                self._folder(container).prepare()
                self.sent[container] = 0
                self.quiet_since[container] = time.monotonic()

    def remove(self, name: str) -> None:
        return None  # a job's folder goes once it has been sent (or is not waited for)

    def mount(self, name: str, mount_id: str) -> str:
        self.create(name)  # made already, unless the plugin lost it meanwhile
        return self.path(name)

    def unmount(self, name: str, mount_id: str) -> None:
        """The container has exited: its folder is sent back at the next turn."""
        found = JOB_VOLUME.fullmatch(name)
        if found and found.group(1) == "job":
            (self.root / f"{found.group(2)}{ENDED_MARK}").touch()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    # --- sending ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.wait(self.ship_seconds):
            self.send_all()

    def send_all(self) -> None:
        with self.lock:
            containers = list(self.sent)
        for container in containers:
            try:
                if (self.root / f"{container}{ENDED_MARK}").exists():
                    self._send_back(container)
                else:
                    self._send_log(container)
            except FloeError as err:
                if err.status in NOT_WAITED_FOR:
                    log.info("%s: %s; dropping its folder", container, err)
                    self._drop(container)
                else:  # the service away for a while: sent again at the next turn
                    log.warning("%s: sending its folder: %s", container, err)
            except Exception:
                log.exception("%s: sending its folder", container)

    def _send_log(self, container: str, most: int | None = 8 * LOG_CHUNK) -> None:
        """What the log gained since last time (``most`` bytes at a time; None: to its end)."""
        path = f"nodes/jobs/{container}/log"
        offset = self.sent.get(container)
        quiet = time.monotonic() - self.quiet_since.get(container, 0.0) > ASK_AFTER_S
        if offset is None or (quiet and most is not None):
            # After a restart, or a while without news: how far has the service got (and does
            # it still wait for this job at all)?
            offset = self.client.json("POST", path, params={"offset": 0}, data=b"")["received"]
            self.quiet_since[container] = time.monotonic()
            with self.lock:
                self.sent[container] = offset
        sent = 0
        with open(self._folder(container).log, "rb") as job_log:
            while most is None or sent < most:
                job_log.seek(offset)
                chunk = job_log.read(LOG_CHUNK)
                if not chunk:
                    break
                answer = self.client.json("POST", path, params={"offset": offset}, data=chunk)
                sent += max(0, answer["received"] - offset)
                offset = answer["received"]
                with self.lock:
                    self.sent[container] = offset
                self.quiet_since[container] = time.monotonic()
                if len(chunk) < LOG_CHUNK:
                    break

    def _send_back(self, container: str) -> None:
        folder = self._folder(container)
        self._send_log(container, most=None)
        note = folder.result_note.read_bytes()[: 64 * 1024] if folder.result_note.exists() else b""
        self.client.request("PUT", f"nodes/jobs/{container}/result", data=note)
        with tempfile.TemporaryFile(dir=self.root) as archive:
            with tarfile.open(fileobj=archive, mode="w:") as tar:
                # Links are sent as links (never followed): the service unpacks only what
                # stays inside /output.
                tar.add(folder.output, arcname=".", recursive=True)
            archive.seek(0)
            self.client.request("PUT", f"nodes/jobs/{container}/output", data=archive)
        self.client.request("POST", f"nodes/jobs/{container}/returned")
        log.info("%s: its folder is back with the service", container)
        self._drop(container)

    def _drop(self, container: str) -> None:
        with self.lock:
            self.sent.pop(container, None)
            self.quiet_since.pop(container, None)
        folder = self._folder(container)
        shutil.rmtree(folder.path, ignore_errors=True)
        (self.root / f"{container}{ENDED_MARK}").unlink(missing_ok=True)
