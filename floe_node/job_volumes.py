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
import os
import shutil
import stat
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dataset_mounter.node_volumes import JOB_VOLUME, RUNNER_VOLUME
from floe.client.api import FloeClient, FloeError
from floe.core.disk import open_plain
from floe.trees.scan import LocalFile, select_files
from jobs.job_container import RUNNER_DIR
from jobs.job_folder import OUTPUT_REPLACED, JobFolder, skipped_lines
from jobs.job_return import LOG_SLACK_BYTES, RESULT_NOTE_BYTES, SKIPPED_LISTED
from jobs.watch import OUTPUT_CHECK_S, folder_size

log = logging.getLogger("floe.node")

ENDED_MARK = ".ended"  # beside a job's folder: its container exited, the folder is to be sent
LOG_CHUNK = 1024**2
# The service no longer waits for this job (it ended: 409; or it names no such job: 404 with
# its own words, not a proxy's): what is here is dropped.
ENDED_STATUS = 409
UNKNOWN_JOB = "in this Floe"
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
        self.limits: dict[str, dict] = {}  # container -> the job's caps, as the service said
        self.measured: dict[str, float] = {}  # container -> when its /output was last measured
        self._sending: set[str] = set()  # folders being sent back now (one sender each)
        self._noted: set[str] = set()  # folders whose left-out files the log lists already
        self._senders = ThreadPoolExecutor(4, thread_name_prefix="floe-send-back")
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
        if kind == "output":
            return str(folder.kept_output() or "")  # never where a link the job made leads
        return str(folder.path)

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
            self._ended(found.group(2))

    def _ended(self, container: str) -> None:
        with self.lock:
            if container in self.sent:
                (self.root / f"{container}{ENDED_MARK}").touch()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._senders.shutdown(wait=False, cancel_futures=True)

    # --- sending ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.wait(self.ship_seconds):
            self.send_all()

    def send_all(self) -> None:
        """One turn: each running job's new log lines (and now and then its /output's size);
        each ended job's folder handed to a sender of its own."""
        with self.lock:
            containers = [c for c in self.sent if c not in self._sending]
        for container in containers:
            if (self.root / f"{container}{ENDED_MARK}").exists():
                with self.lock:
                    self._sending.add(container)
                self._senders.submit(self._send_back_once, container)
                continue
            try:
                self._send_log(container)
            except Exception as err:
                self._failed(container, err)

    def _failed(self, container: str, err: Exception) -> None:
        if isinstance(err, FloeError) and (
            err.status == ENDED_STATUS
            or (err.status == 404 and UNKNOWN_JOB in str(err.body.get("error", "")))
        ):
            log.info("%s: %s; dropping its folder", container, err)
            self._drop(container)
        elif isinstance(err, FloeError):  # the service away for a while: again next turn
            log.warning("%s: sending its folder: %s", container, err)
        else:
            log.exception("%s: sending its folder", container)

    def _post_log(self, container: str, offset: int, chunk: bytes, **measured: int) -> int:
        """Send log bytes from ``offset``; keep what the service answers (its count, the job's
        caps, whether it waits for the folder); the count."""
        answer = self.client.json(
            "POST",
            f"nodes/jobs/{container}/log",
            params={"offset": offset, **measured},
            data=chunk,
        )
        self.limits[container] = answer
        if answer.get("send_back"):  # it saw the container end (an unmount this plugin missed)
            self._ended(container)
        with self.lock:
            if container in self.sent:
                self.sent[container] = answer["received"]
        self.quiet_since[container] = time.monotonic()
        return answer["received"]

    def _output_size(self, container: str) -> dict[str, int]:
        """Every few seconds, /output's bytes and entries (counted only up to past its caps),
        for the service to stop a job past them."""
        caps = self.limits.get(container)
        if caps is None or time.monotonic() - self.measured.get(container, 0.0) < OUTPUT_CHECK_S:
            return {}
        self.measured[container] = time.monotonic()
        output = self._folder(container).kept_output()
        if output is None:  # replaced by a link: nothing behind it measured (nor sent)
            return {}
        size, entries = folder_size(output, caps["max_output_bytes"], caps["max_output_files"])
        return {"output_bytes": size, "output_entries": entries}

    def _send_log(self, container: str, most: int | None = 8 * LOG_CHUNK) -> None:
        """What the log gained since last time (``most`` bytes at a time; None: to its end),
        never past the job's cap on its log (the service keeps no more)."""
        offset = self.sent.get(container)
        quiet = time.monotonic() - self.quiet_since.get(container, 0.0) > ASK_AFTER_S
        measured = self._output_size(container)
        if offset is None or measured or (quiet and most is not None):
            # After a restart, a while without news, or a measure to tell: how far has the
            # service got (and does it still wait for this job at all)?
            offset = self._post_log(container, offset or 0, b"", **measured)
        cap = self.limits.get(container, {}).get("max_log_bytes")
        sent = 0
        folder = self._folder(container)
        try:
            job_log = os.fdopen(open_plain(folder.log), "rb")
        except OSError:
            return  # none yet, or a link or fifo in its place: nothing of it is read
        with job_log:
            while most is None or sent < most:
                room = LOG_CHUNK if cap is None else min(LOG_CHUNK, cap + LOG_SLACK_BYTES - offset)
                if room <= 0:
                    break
                job_log.seek(offset)
                chunk = job_log.read(room)
                if not chunk:
                    break
                received = self._post_log(container, offset, chunk)
                sent += max(0, received - offset)
                offset = received
                if len(chunk) < room:
                    break

    def _send_back_once(self, container: str) -> None:
        try:
            self._send_back(container)
        except Exception as err:
            self._failed(container, err)
        finally:
            with self.lock:
                self._sending.discard(container)

    def _send_back(self, container: str) -> None:
        """The container has exited: the rest of the log, the result note, /output (what a
        local /output would keep, within the job's caps; what is left out listed in the log),
        then 'returned'; the folder goes."""
        folder = self._folder(container)
        offset = self._post_log(container, self.sent.get(container) or 0, b"")  # the caps
        caps = self.limits[container]
        skipped: list[tuple[str, str]] = []
        output = folder.kept_output()
        files = []
        if output is not None:
            files = select_files(
                output,
                max_bytes=caps["max_output_bytes"],
                skipped=skipped,
                max_files=caps["max_output_files"],
            )
        if container not in self._noted:  # once, should sending be tried again
            self._noted.add(container)
            folder.note([OUTPUT_REPLACED] if output is None else [])
            folder.note(skipped_lines(skipped, SKIPPED_LISTED))
        with self.lock:
            self.sent[container] = offset
        self._send_log(container, most=None)
        try:
            with os.fdopen(open_plain(folder.result_note), "rb") as note:
                result = note.read(RESULT_NOTE_BYTES)  # the job may have made it huge (sparse)
        except OSError:
            result = b""  # none, or a link or fifo in its place: no note to read
        self.client.request("PUT", f"nodes/jobs/{container}/result", data=result)
        with tempfile.TemporaryFile(dir=self.root) as archive:
            with tarfile.open(fileobj=archive, mode="w:") as tar:
                for found in files:  # plain files only: a link inside /output as its file
                    _add_as_listed(tar, found)
                    tar.members.clear()
            archive.seek(0)
            try:
                self.client.request("PUT", f"nodes/jobs/{container}/output", data=archive)
            except FloeError as err:
                if err.status != 413:
                    raise
                log.warning("%s: /output refused (%s); sent back without it", container, err)
        self.client.request("POST", f"nodes/jobs/{container}/returned")
        log.info("%s: its folder is back with the service", container)
        self._drop(container)

    def _drop(self, container: str) -> None:
        with self.lock:
            self.sent.pop(container, None)
            self.quiet_since.pop(container, None)
            self.limits.pop(container, None)
            self.measured.pop(container, None)
            self._noted.discard(container)
        folder = self._folder(container)
        shutil.rmtree(folder.path, ignore_errors=True)
        (self.root / f"{container}{ENDED_MARK}").unlink(missing_ok=True)


def _add_as_listed(tar: tarfile.TarFile, found: LocalFile) -> None:
    """Add the file the listing saw, as a plain file: one that is not that very file any more
    (same inode, size and time) is left out, so nothing swapped in after the listing (a link
    to a file of this machine) is ever read."""
    try:
        fd = os.open(found.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return
    with os.fdopen(fd, "rb") as data:
        seen = os.fstat(fd)
        same = (seen.st_size, seen.st_mtime_ns, seen.st_ino) == found.key
        if not (stat.S_ISREG(seen.st_mode) and same):
            return
        info = tarfile.TarInfo(found.rel)
        info.size, info.mode = found.size, found.mode
        tar.addfile(info, data)
