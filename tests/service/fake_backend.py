"""A runner backend for the fast tier: containers are threads that act out their command.

A job's command says what its "container" does, so tests read like the job they stand for:
``exit N`` ends with code N, ``sleep`` runs until stopped, ``oom`` dies out of memory,
``metrics N`` prints N more metric lines, ``write N`` writes N KiB to /output, ``sparse``
leaves a 10 TB sparse executable in /output, ``flood log`` and ``flood output`` write 2 MiB
there and wait to be stopped (``flood files``: 500 empty files in /output), ``flood
metrics`` prints ``{}`` lines until stopped, ``serve`` answers HTTP on a port of this machine
until stopped (``echo_app``: what it was sent, as JSON), ``deaf`` serves on a port nothing
listens on, and anything else prints itself and
writes ``/output/out.txt``.
GPUs are taken from the ``floe.gpus`` label of running fake containers, as the Docker backend
reads real ones.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import make_server

from containers.gpu import GPU_LABEL
from containers.spec import ContainerSpec
from jobs.backend import ContainerGone, ContainerInfo, RunnerBackend
from jobs.container.serve_wsgi import QuietHandler, ThreadingServer

NODE_SECRET = "a node's own secret"


@dataclass
class FakeContainer:
    id: str
    spec: ContainerSpec
    state: dict = field(default_factory=lambda: {"Running": False})
    done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0  # where a serving job answers

    def source(self, target: str) -> Path:
        return Path(next(m.source for m in self.spec.mounts if m.target == target))


class FakeBackend(RunnerBackend):
    containers: dict[str, FakeContainer] = {}  # by name, for all instances
    made: dict[str, ContainerSpec] = {}  # every spec asked for, by its FLOE_JOB (tests look)
    gpu_driver = False  # a test of GPU jobs that run sets it: as on a node with the toolkit

    def gpus_in_use(self, except_name: str = "") -> set[str]:
        return {
            gpu
            for name, c in self.containers.items()
            if name != except_name and c.state.get("Running")
            for gpu in c.spec.labels.get(GPU_LABEL, "").split(",")
            if gpu
        }

    def create(self, spec: ContainerSpec) -> str:
        container = FakeContainer(uuid.uuid4().hex, spec)
        self.containers[spec.name] = container
        self.made[spec.environment["FLOE_JOB"]] = spec
        return container.id

    def image_digest(self, image: str) -> str:
        return "sha256:" + "f" * 64

    def _by_id(self, container_id: str) -> FakeContainer:
        for container in self.containers.values():
            if container.id == container_id:
                return container
        raise ContainerGone(container_id)

    def start(self, container_id: str) -> None:
        container = self._by_id(container_id)
        if container.spec.gpu_device_ids and not self.gpu_driver:  # no NVIDIA toolkit here
            raise RuntimeError('could not select device driver "" with capabilities: [[gpu]]')
        container.state = {"Running": True}
        threading.Thread(target=self._act, args=(container,), daemon=True).start()

    def _act(self, container: FakeContainer) -> None:
        command = container.spec.environment.get("FLOE_COMMAND", "notebook")
        log = container.source("/floe-job") / "log"
        code, oom = 0, False
        with open(log, "a") as out:
            out.write(f"ran: {command}\n")
            out.write('{"step": 1, "loss": 0.5}\n')
        if command.startswith("exit "):
            code = int(command.split()[1])
        elif command == "sleep":
            container.stop.wait(120)
            code = 143
        elif command == "serve":
            server = make_server("127.0.0.1", 0, echo_app, ThreadingServer, QuietHandler)
            container.port = server.server_address[1]
            threading.Thread(target=server.serve_forever, daemon=True).start()
            container.stop.wait(300)
            server.shutdown()
            server.server_close()
            code = 143
        elif command == "deaf":  # a serving job whose program never listens
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                container.port = probe.getsockname()[1]
            container.stop.wait(300)
            code = 143
        elif command == "oom":
            code, oom = 137, True
        elif command == "odd output":
            out = container.source("/output")
            (out / "good.txt").write_text("kept")
            (out / "sub").mkdir()
            os.symlink("/etc/passwd", out / "absolute-link")
            os.symlink("nothing-here", out / "dangling")
            os.symlink("sub", out / "folder-link")
            (out / "back\\slash").write_text("x")
            (out / "esc\x1b[2Jape").write_text("x")
            deep = out
            for _ in range(200):
                deep = deep / "d"
            deep.mkdir(parents=True)
            (deep / "deep.txt").write_text("x")
        elif command == "root swap":  # as a job that became root in its container would
            folder = container.source("/floe-job")
            secrets = folder.parent / f"{folder.name}-node-files"
            secrets.mkdir()
            (secrets / "node-token").write_text(NODE_SECRET)
            os.rename(folder / "output", folder / "output.old")
            os.symlink(secrets, folder / "output")
            os.unlink(folder / "result.json")
            os.mkfifo(folder / "result.json")  # a read of it would wait forever
        elif command == "fifo log":  # a log no note can be added to without waiting forever
            folder = container.source("/floe-job")
            os.symlink("/nope", container.source("/output") / "dangling")  # a note to add
            os.unlink(folder / "log")
            os.mkfifo(folder / "log")
        elif command == "sparse":
            out = container.source("/output")
            with open(out / "huge.bin", "wb") as huge:
                huge.truncate(10 * 1024**4)  # `truncate -s 10T`: no disk, 10 TB to read
            os.chmod(out / "huge.bin", 0o755)
            (out / "small.txt").write_text("kept")
        elif command == "flood metrics":  # `yes '{}'`: lines that look like metrics, forever
            with open(log, "ab") as out:
                while not container.stop.is_set():
                    out.write(b"{}\n" * 100_000)
                    out.flush()
                    container.stop.wait(0.05)
            code = 143
        elif command == "flood files":  # 500 empty files, then wait to be stopped
            many = container.source("/output") / "many"
            many.mkdir()
            for n in range(500):
                (many / f"{n:03d}").touch()
            container.stop.wait(120)
            code = 143
        elif command.startswith("flood "):
            where = log if command == "flood log" else container.source("/output") / "big"
            with open(where, "ab") as out:
                out.write(b"x" * 2 * 1024**2)
            container.stop.wait(120)
            code = 143
        elif command.startswith("write "):
            (container.source("/output") / "out.bin").write_bytes(b"w" * 1024 * int(command[6:]))
        elif command == "score":  # a loss and an accuracy that follow the parameters
            params = json.loads(container.spec.environment.get("FLOE_PARAMETERS", "{}"))
            loss = round(params.get("lr", 1) * 10 + params.get("bs", 0) / 100, 4)
            with open(log, "a") as out:
                out.write(json.dumps({"step": 2, "loss": loss, "acc": round(1 - loss / 10, 4)}))
                out.write("\n")
            if params.get("hold"):
                container.stop.wait(120)
                code = 143
        elif command.startswith("metrics "):
            with open(log, "a") as out:
                for step in range(2, int(command.split()[1]) + 2):
                    out.write(f'{{"step": {step}, "__proto__": {step}, "constructor": 1}}\n')
        else:
            (container.source("/output") / "out.txt").write_text(command)
        container.state = {"Running": False, "ExitCode": code, "OOMKilled": oom, "Ran": True}
        container.done.set()

    def wait(self, container_id: str) -> None:
        self._by_id(container_id).done.wait()

    def find(self, name: str) -> ContainerInfo | None:
        container = self.containers.get(name)
        return ContainerInfo(container.id, container.state) if container else None

    def address(self, container_id: str, port: int) -> str | None:
        container = self.containers.get(container_id)
        if container is None or not container.state.get("Running") or not container.port:
            return None
        return f"127.0.0.1:{container.port}"

    def stop(self, name: str, timeout: int) -> None:
        if name in self.containers:
            self.containers[name].stop.set()

    def remove(self, name: str) -> None:
        container = self.containers.pop(name, None)
        if container:
            container.stop.set()


# Bytes the serving jobs' ``/big?N`` answers have handed over so far, all jobs together.
BIG_ANSWERED = [0]


def _big(size: int):
    piece = b"b" * 65536
    for _ in range(size // len(piece)):
        BIG_ANSWERED[0] += len(piece)
        yield piece


def echo_app(environ: dict, start_response) -> list[bytes]:
    """A serving job's program: says what it was sent; some paths do more."""
    path = environ["PATH_INFO"]
    if path == "/big":  # N bytes, handed over only as fast as they are taken
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _big(int(environ["QUERY_STRING"]))
    if path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or 1))
    if path == "/fail":
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"it broke"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    headers = {
        k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    answer = {
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ.get("QUERY_STRING", ""),
        "headers": headers,
        "body_bytes": len(body),
    }
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html" if path == "/page" else "application/json"),
            ("Set-Cookie", "jupyterhub-session-id=stolen; Path=/"),
            ("X-Served-By", "echo"),
        ],
    )
    return [json.dumps(answer).encode()]
