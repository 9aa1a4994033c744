"""Images made from an environment plus requirements, built once per key and then reused.

The key is the content hash of (the image built on, the normalised requirements): every job,
re-run and workspace asking for the same thing gets the same image without installing
anything. One build per key at a time, across processes too (the hub builds for workspaces,
the floe service for jobs): a file lock per key under ``lock_dir``; whoever waited finds the
image made. Builds go through the Docker API (no CLI), on the caller's thread, with the
package index reachable (Docker's default bridge); the containers that then run on the image
sit on Floe's fenced network and need none of it.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

from floe.core.errors import FloeUserError

from .requirements import Requirements

KIND_LABEL = "floe.kind"
KIND = "environment"
KEY_LABEL = "floe.env.key"
BASE_LABEL = "floe.env.base-image"
REQUIREMENTS_LABEL = "floe.env.requirements"
# Labels hold the requirements for `docker inspect` and provenance; a long file is cut there
# (the key still covers all of it).
LABEL_TEXT_MAX = 16 * 1024
# What of a failed build the job's reason shows.
FAILURE_LINES = 12
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

Say = Callable[[str], None]


class BuildFailed(FloeUserError):
    """The requirements did not install; the message ends with what pip said."""

    status = 400


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    image_id: str
    key: str
    # False when it was there already (nothing was installed).
    built: bool
    seconds: float


def build_key(base_image_id: str, requirements: Requirements) -> str:
    h = hashlib.sha256(b"floe-environment-1\0")
    h.update(base_image_id.encode() + b"\0")
    h.update(requirements.digest().encode())
    return h.hexdigest()


DOCKERFILE = """\
FROM {base}
USER root
COPY . /tmp/floe-env/
# The host's CA bundle lets pip reach the index through whatever TLS setup the machine has;
# env -i keeps a build free of settings it was not given.
# Local files are named relative to the requirements (pip reads them from the working folder).
RUN cd /tmp/floe-env \\
    && env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 python3 -m pip install --no-cache-dir \\
        --no-input --disable-pip-version-check --cert ca.crt -r requirements.txt \\
    && cd / && rm -rf /tmp/floe-env
USER 1000
"""


class EnvironmentBuilder(LoggingConfigurable):
    """Builds (once) and finds images of an environment plus requirements."""

    repository = Unicode(
        "floe/env",
        config=True,
        help="Image repository of environments Floe builds; each is tagged with its key.",
    )
    lock_dir = Unicode(
        "",
        config=True,
        help="""Folder of the locks that make one build per key at a time, shared by the hub
        and the floe service (Floe sets it to <data dir>/builds).""",
    )
    ca_bundle = Unicode(
        "/etc/ssl/certs/ca-certificates.crt",
        config=True,
        help="CA bundle pip uses in builds to reach the package index (this machine's).",
    )
    build_timeout = Integer(
        3600, config=True, help="Seconds one environment build may take before it fails."
    )
    max_log_bytes = Integer(
        4 * 1024**2,
        config=True,
        help="Bytes of a build's output passed on to the job's log or the spawn page.",
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._docker: docker.APIClient | None = None

    @property
    def api(self) -> docker.APIClient:
        if self._docker is None:
            self._docker = docker.APIClient(timeout=self.build_timeout)
        return self._docker

    def tag(self, key: str) -> str:
        return f"{self.repository}:{key[:24]}"

    def image_id(self, image: str) -> str | None:
        try:
            return self.api.inspect_image(image)["Id"]
        except docker.errors.ImageNotFound:
            return None

    def find(self, base_image: str, requirements: Requirements) -> str | None:
        """The image of ``base_image`` plus ``requirements`` if it was built already."""
        base_id = self.image_id(base_image)
        if base_id is None:
            return None
        key = build_key(base_id, requirements)
        tag = self.tag(key)
        return tag if self._existing(tag, key) else None

    def ensure(
        self,
        base_image: str,
        requirements: Requirements,
        say: Say = lambda _line: None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> BuiltImage:
        """The image of ``base_image`` plus ``requirements``, built now if nobody has yet."""
        started = time.monotonic()
        base_id = self.image_id(base_image)
        if base_id is None:
            raise BuildFailed(f"the environment's image {base_image} is not on this node")
        key = build_key(base_id, requirements)
        tag = self.tag(key)
        found = self._existing(tag, key)
        if found:
            return BuiltImage(tag, found, key, built=False, seconds=time.monotonic() - started)
        with self._lock(key):
            found = self._existing(tag, key)  # built by whoever held the lock before us
            if found:
                return BuiltImage(tag, found, key, built=False, seconds=time.monotonic() - started)
            image_id = self._build(base_id, base_image, requirements, key, tag, say, cancelled)
        return BuiltImage(tag, image_id, key, built=True, seconds=time.monotonic() - started)

    def _existing(self, tag: str, key: str) -> str | None:
        try:
            image = self.api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            return None
        labels = image.get("Config", {}).get("Labels") or {}
        return image["Id"] if labels.get(KEY_LABEL) == key else None

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        folder = Path(self.lock_dir or "/tmp/floe-builds")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(folder / f"{key[:32]}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing lets the lock go

    def _context(self, base_id: str, requirements: Requirements) -> io.BytesIO:
        files = {
            "Dockerfile": DOCKERFILE.format(base=base_id).encode(),
            "requirements.txt": requirements.text.encode(),
            "ca.crt": Path(self.ca_bundle).read_bytes() if Path(self.ca_bundle).is_file() else b"",
        }
        for name, data in requirements.local_files:
            files[f"local/{name}"] = data
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        return buffer

    def _build(
        self,
        base_id: str,
        base_image: str,
        requirements: Requirements,
        key: str,
        tag: str,
        say: Say,
        cancelled: Callable[[], bool],
    ) -> str:
        labels = {
            KIND_LABEL: KIND,
            KEY_LABEL: key,
            BASE_LABEL: base_id,
            "floe.env.base": base_image,
            REQUIREMENTS_LABEL: requirements.text[:LABEL_TEXT_MAX],
        }
        said, tail = 0, []
        image_id = None
        stream = self.api.build(
            fileobj=self._context(base_id, requirements),
            custom_context=True,
            tag=tag,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        try:
            for chunk in stream:
                text = _ANSI.sub("", chunk.get("stream") or "")
                for line in text.splitlines():
                    tail = [*tail[-(FAILURE_LINES - 1) :], line]
                    said += len(line) + 1
                    if said <= self.max_log_bytes:
                        say(line)
                if "error" in chunk:
                    detail = _ANSI.sub("", chunk.get("error", "")).strip()
                    lines = [t for t in tail if t.strip()][-FAILURE_LINES:]
                    raise BuildFailed(
                        "the requirements did not install: " + detail + "\n" + "\n".join(lines)
                    )
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                if cancelled():
                    raise BuildFailed("the build was stopped")
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()  # a build left early: the engine stops it when its caller goes
        return image_id or self.image_id(tag) or ""
