"""Images made from an environment plus requirements, built once per key and then reused.

The key is the content hash of (the image built on, the normalised requirements): every job,
re-run and workspace asking for the same thing gets the same image without installing
anything. One build per key at a time, across processes too (the hub builds for workspaces,
the floe service for jobs): a file lock per key under ``lock_dir``; whoever waited finds the
image made.

A build is a Floe container like any other (``container_spec``: no capabilities, no new
privileges, a pids limit, ``c.EnvironmentBuilder`` memory and CPU, Floe's fenced network, so
what a requirement's setup.py runs reaches nothing a job could not), running pip as the image's
root over its own files; the requirements and local wheels come in through a read-only
folder (never a layer of the image). Before the container is committed (with the base image's
settings), what pip's build backends left running is killed and every setuid/setgid bit and
file capability is removed from the image (``strip_privileges``): a backend could otherwise
leave a setuid-root python for job code to become root with. A build has a wall-clock limit,
and a stopped job stops its build.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from traitlets import Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from containers.catalog import Environment, Machine
from containers.spec import Mount, build_container_spec
from environments.cache import BASE_LABEL, KEY_LABEL, KIND, KIND_LABEL, BuildCache
from environments.requirements import Requirements
from floe.core.text import without_secrets

from .build_container import (
    CONTEXT,
    FAILURE_LINES,
    POLL_S,
    STRIP_SCRIPT,
    BuildFailed,
    Say,
    check_time,
    follow,
    write_context,
)
from .build_disk import BuildDisk
from .layer_check import layers_of, privileged_files

REQUIREMENTS_LABEL = "floe.env.requirements"
# Labels hold the requirements for `docker inspect` and provenance; a long file is cut there
# (the key still covers all of it).
LABEL_TEXT_MAX = 16 * 1024


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


# The build's exit status when the strip could not remove everything.
STRIP_FAILED = 86
# pip as the image's root (its packages are root's), told nothing it was not given; then every
# other process is killed (nothing sets a bit back after the strip), and the image stripped.
BUILD_COMMAND = (
    'env -i PATH="$PATH" HOME=/tmp/floe-home LANG=C.UTF-8 python3 -m pip install '
    "--no-cache-dir --no-input --disable-pip-version-check {cert}-r requirements.txt "
    "|| exit $?; kill -9 -1 2>/dev/null; "
    f'env -i PATH="$PATH" python3 -I -S {CONTEXT}/{STRIP_SCRIPT.name} / || exit {STRIP_FAILED}'
)
BUILD_USER = "0:0"


def default_ca_bundle() -> str:
    """This machine's CA bundle, for pip to reach the index through the machine's TLS setup."""
    for path in (ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if path and Path(path).is_file():
            return path
    return ""


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
        config=True,
        help="CA bundle pip uses in builds to reach the package index (default: this "
        "machine's; empty: pip's own).",
    )
    build_timeout = Integer(
        3600, config=True, help="Seconds one environment build may take before it fails."
    )
    max_log_bytes = Integer(
        4 * 1024**2,
        config=True,
        help="Bytes of a build's output passed on to the job's log or the spawn page.",
    )
    network = Unicode(
        "",
        config=True,
        help="""Docker network builds run on: Floe's (Floe sets it), fenced like jobs'; builds
        need the package index there (FLOE_EGRESS, FLOE_EGRESS_ALLOW).""",
    )
    memory_bytes = Integer(
        8 * 1024**3, config=True, help="Memory limit of a build container, in bytes."
    )
    cpu = Float(2.0, config=True, help="CPU cores a build container may use.")
    max_bytes = Integer(
        30 * 1024**3,
        config=True,
        help="""Bytes one build may write into its image (what pip installs, with its caches
        and temporary files); past it the build fails saying so. The engine holds it where its
        storage driver has quotas (overlay2 on xfs with pquota, btrfs, zfs); elsewhere Floe
        measures the build every two seconds and once it ends, before committing, so it may
        write a few seconds past it but never keeps it. 0: no limit.""",
    )
    cache_bytes = Integer(
        40 * 1024**3,
        config=True,
        help="""Bytes the images Floe builds may take on this node (what each adds to the image
        it is built on). Past it, the least recently used are removed after a build, never one
        a container (running or not) uses; they are built again if asked for. Published
        environments' images are kept and not counted.""",
    )

    @default("ca_bundle")
    def _ca_bundle_default(self) -> str:
        return default_ca_bundle()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._docker: docker.APIClient | None = None
        self._cache: BuildCache | None = None

    @property
    def api(self) -> docker.APIClient:
        if self._docker is None:
            self._docker = docker.APIClient(timeout=self.build_timeout)
        return self._docker

    @property
    def cache(self) -> BuildCache:
        """The images built here, their last uses, and the build locks' folder."""
        if self._cache is None:
            folder = Path(self.lock_dir or tempfile.gettempdir()) / "floe-builds"
            self._cache = BuildCache(self.api, folder, self.repository, self.log)
        return self._cache

    def tag(self, key: str) -> str:
        return f"{self.repository}:{key[:24]}"

    def image_id(self, image: str) -> str | None:
        found = self._inspect(image)
        return found["Id"] if found else None

    def _inspect(self, image: str) -> dict | None:
        try:
            return self.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return None

    def _look_up(
        self, base: dict, requirements: Requirements, mark: bool = True
    ) -> tuple[str, str, str | None]:
        """The key and tag of ``base`` plus ``requirements``, and the image's id if it is here
        (noted as used, unless ``mark`` is False)."""
        key = build_key(base["Id"], requirements)
        tag = self.tag(key)
        found = self._existing(tag, key)
        if found and mark:
            self.cache.used(key)
        return key, tag, found

    def describe(self, image: str, steps: list[Requirements]) -> dict:
        """``image`` plus each of ``steps`` in turn as this node has it now, nothing built and
        no use noted: ``on_node``, the last ``image``, its ``size_bytes`` and ``last_used``
        (seconds since the epoch; None for an image Floe did not build)."""
        info = self._inspect(image)
        last_used = None
        for requirements in steps:
            if info is None:
                break
            key, tag, found = self._look_up(info, requirements, mark=False)
            info = self._inspect(found) if found else None
            image, last_used = tag, self.cache.last_used(key) or None
        if info is None:
            return {"on_node": False, "image": image, "size_bytes": None, "last_used": None}
        return {
            "on_node": True,
            "image": image,
            "size_bytes": info.get("Size"),
            "last_used": last_used,
        }

    def find(self, base_image: str, requirements: Requirements) -> str | None:
        """The image of ``base_image`` plus ``requirements`` if it was built already."""
        base = self._inspect(base_image)
        if base is None:
            return None
        _key, tag, found = self._look_up(base, requirements)
        return tag if found else None

    def ensure(
        self,
        base_image: str,
        requirements: Requirements,
        say: Say = lambda _line: None,
        cancelled: Callable[[], bool] = lambda: False,
        on_build: Callable[[], None] = lambda: None,
    ) -> BuiltImage:
        """The image of ``base_image`` plus ``requirements``, built now if nobody has yet;
        ``on_build`` is called once it is clear the image is not there (a build, ours or
        another's, is then waited for)."""
        started = time.monotonic()
        base = self._inspect(base_image)
        if base is None:
            raise BuildFailed(f"the environment's image {base_image} is not on this node")
        key, tag, found = self._look_up(base, requirements)
        if found:
            return BuiltImage(tag, found, key, built=False, seconds=time.monotonic() - started)
        on_build()
        deadline = started + self.build_timeout
        with self._lock(key, cancelled, deadline):
            found = self._existing(tag, key)  # built by whoever held the lock before us
            if found:
                return BuiltImage(tag, found, key, built=False, seconds=time.monotonic() - started)
            image_id = self._build(base, requirements, key, tag, say, cancelled, deadline)
            self.cache.used(key)
        self.prune()
        return BuiltImage(tag, image_id, key, built=True, seconds=time.monotonic() - started)

    def prune(self) -> list[str]:
        """Built images past ``cache_bytes`` removed, least recently used first."""
        return self.cache.prune(self.cache_bytes)

    def _existing(self, tag: str, key: str) -> str | None:
        try:
            image = self.api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            return None
        labels = image.get("Config", {}).get("Labels") or {}
        return image["Id"] if labels.get(KEY_LABEL) == key else None

    @contextmanager
    def _lock(self, key: str, cancelled: Callable[[], bool], deadline: float) -> Iterator[None]:
        """This key's lock, waited for while the caller still wants it and time is left."""
        fd = os.open(self.cache.folder / f"{key[:32]}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    check_time(cancelled, deadline, "waiting for another build of it")
                    time.sleep(POLL_S)
            yield
        finally:
            os.close(fd)  # closing lets the lock go

    def _build(
        self,
        base_image: dict,
        requirements: Requirements,
        key: str,
        tag: str,
        say: Say,
        cancelled: Callable[[], bool],
        deadline: float,
    ) -> str:
        base_id, base = base_image["Id"], base_image["Config"]
        self._remove_builds_of(key)  # a build left by a process that stopped mid-way
        context = Path(tempfile.mkdtemp(prefix="floe-env-"))
        container = None
        try:
            cert = write_context(context, requirements, self.ca_bundle)
            spec = build_container_spec(
                name=f"floe-build-{key[:12]}-{secrets.token_hex(3)}",
                environment=Environment(slug="build", display_name="build", image=base_id),
                machine=Machine("build", "build", cpu=self.cpu, memory_bytes=self.memory_bytes),
                labels={KIND_LABEL: "environment-build", KEY_LABEL: key},
                env={},
                command=["sh", "-c", BUILD_COMMAND.format(cert=cert)],
                mounts=[Mount(str(context), CONTEXT, "bind", read_only=True)],
                network=self.network or None,
                working_dir=CONTEXT,
                user=BUILD_USER,
                read_only=False,
                scratch=(),
            )
            disk = BuildDisk(self.api, self.max_bytes)
            container = disk.create(spec.create_kwargs(self.api))
            self.api.start(container)
            tail = follow(self.api, container, say, cancelled, deadline, self.max_log_bytes, disk)
            code = self.api.inspect_container(container)["State"]["ExitCode"]
            lines = "\n".join([t for t in tail if t.strip()][-FAILURE_LINES:])
            if why := disk.past(code, lines):
                raise BuildFailed(why)
            if code == STRIP_FAILED:
                raise BuildFailed(
                    "the build could not remove every setuid/setgid bit and file capability "
                    "from its image; those named come with its base image, which a build (root "
                    f"without capabilities) may not change: remove them there:\n{lines}"
                )
            if code:
                raise BuildFailed(f"the requirements did not install (pip exited {code}):\n{lines}")
            self._refuse_privileged(container)
            labels = {
                **(base.get("Labels") or {}),
                KIND_LABEL: KIND,
                KEY_LABEL: key,
                BASE_LABEL: base_id,
                REQUIREMENTS_LABEL: without_secrets(requirements.text)[:LABEL_TEXT_MAX],
            }
            repository, _, version = tag.rpartition(":")
            made = self.api.commit(
                container,
                repository=repository,
                tag=version,
                conf={
                    # The base image's own settings, not the build container's.
                    "User": base.get("User") or "",
                    "Cmd": base.get("Cmd") or [],
                    "Entrypoint": base.get("Entrypoint") or [],
                    "WorkingDir": base.get("WorkingDir") or "",
                    "Env": base.get("Env") or [],
                    "Labels": labels,
                },
            )
        finally:
            if container:
                self.api.remove_container(container, force=True)
            shutil.rmtree(context, ignore_errors=True)
        image_id = made.get("Id", "")
        if not image_id or self._existing(tag, key) != image_id:
            raise BuildFailed(f"the build of {tag} ended without its image")
        return image_id

    _unread_said = False

    def _refuse_privileged(self, container: str) -> None:
        """Read here what the build would commit: a setuid/setgid file or a file capability
        left (the strip inside defeated) fails it."""
        layers = layers_of(self.api, container)
        if layers is None:
            if not EnvironmentBuilder._unread_said:
                EnvironmentBuilder._unread_said = True
                self.log.warning(
                    "builds' layers are not overlay2 folders of this machine: what a build "
                    "commits is not read here for setuid files (the strip inside alone)"
                )
            return
        try:
            left = privileged_files(layers)
        except OSError as err:
            self.log.warning("build %s: its layers could not be read (%s)", container, err)
            return
        if left:
            raise BuildFailed(
                "the build left files that would let a job's user become another (setuid, "
                "setgid or file capabilities), which Floe does not keep: " + ", ".join(left)
            )

    def _remove_builds_of(self, key: str) -> None:
        for leftover in self.api.containers(all=True, filters={"label": f"{KEY_LABEL}={key}"}):
            self.api.remove_container(leftover["Id"], force=True)
