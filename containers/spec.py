"""The one description of a Floe container, shared by workspaces and jobs.

``build_container_spec`` turns an environment, a machine type, GPU ids and mounts into a
``ContainerSpec`` with Floe's hardening applied; ``ContainerSpec.create_kwargs`` turns that
into the arguments of docker-py's low-level ``create_container``. Workspaces and jobs call
the same two functions, so a limit or a hardening rule changes in one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import docker

from .catalog import Environment, Machine

# The unprivileged user every Floe container runs as (jovyan, as in Jupyter's images).
CONTAINER_UID, CONTAINER_GID = 1000, 100
CONTAINER_USER = f"{CONTAINER_UID}:{CONTAINER_GID}"
CONTAINER_HOME = "/home/jovyan"
# Enough for a busy notebook with many threads, low enough to stop a fork bomb.
PIDS_LIMIT = 4096
# The engine is this machine's: its containers have IPv6 when its kernel does.
IPV6_ON_THIS_MACHINE = os.path.exists("/proc/sys/net/ipv6")
CPU_PERIOD_US = 100_000
DOCKER_SOCKET_PATHS = ("/var/run/docker.sock", "/run/docker.sock")
# Where a container may write besides its mounts: memory (tmpfs), charged to its memory limit,
# so no container can fill the node's disk through its image's writable layer.
# exec: Docker mounts tmpfs noexec unless told, and compiled wheels, kernels' caches and
# build tools run from there.
SCRATCH_OPTIONS = "rw,exec,nosuid,nodev"
# A container's own output the engine keeps (workspaces': JupyterLab's log) is bounded too.
ENGINE_LOG = docker.types.LogConfig(type="json-file", config={"max-size": "10m", "max-file": "2"})
NO_ENGINE_LOG = docker.types.LogConfig(type="none")


class UnsafeMount(ValueError):
    """A mount that would hand the container control of the host (the Docker socket)."""


class UnsupportedSetting(ValueError):
    """A deployer's Docker setting that would undo what Floe decides for every container."""


# What Floe itself sets on every container, each with where a deployer changes it instead.
OWNED_HOST_CONFIG = {
    "mem_limit": "c.Catalog.machines (memory)",
    "memswap_limit": "c.Catalog.machines (memory)",
    "cpu_period": "c.Catalog.machines (cpu)",
    "cpu_quota": "c.Catalog.machines (cpu)",
    "nano_cpus": "c.Catalog.machines (cpu)",
    "device_requests": "c.Catalog.machines (gpus)",
    "mounts": "c.DockerSpawner.mounts",
    "binds": "c.DockerSpawner.volumes",
    "network_mode": "c.DockerSpawner.network_name",
    "port_bindings": "nothing: workspaces are reached on their Docker network",
    "cap_drop": "nothing: every Floe container drops all capabilities",
    "security_opt": "nothing: every Floe container runs with no-new-privileges",
    "privileged": "nothing: Floe containers are never privileged",
    "pids_limit": "nothing: Floe limits processes per container",
    "sysctls": "nothing: Floe turns IPv6 off in its containers (its firewall is IPv4's)",
    "log_config": "nothing: Floe decides where a container's log goes",
    "read_only": "nothing: a Floe container's image is read-only (its disk use is bounded)",
    "tmpfs": "nothing: Floe gives /tmp (and a job's home) as memory, within the memory limit",
}
OWNED_CREATE_KWARGS = {
    "image": "c.Catalog.environments",
    "name": "c.DockerSpawner.name_template",
    "command": "c.Spawner.cmd",
    "environment": "c.Spawner.environment",
    "labels": "nothing: Floe's labels say what each container is",
    "user": "nothing: Floe containers run as uid 1000",
    "host_config": "c.DockerSpawner.extra_host_config",
    "ports": "c.Spawner.port",
    "volumes": "c.DockerSpawner.volumes",
    "working_dir": "c.Spawner.notebook_dir",
}


def give_to_container_user(path: Path) -> None:
    """Let the containers' user write ``path`` (a job's log or /output, a home's folders):
    theirs when this process may give it, else writable by anyone."""
    try:
        os.chown(path, CONTAINER_UID, CONTAINER_GID, follow_symlinks=False)
    except PermissionError:
        os.chmod(path, 0o777 if path.is_dir() else 0o666)


def check_extras(host_config: dict, create_kwargs: dict) -> None:
    """Refuse extra Docker settings that Floe sets itself, naming what to use instead."""
    for extra, owned, setting in (
        (host_config, OWNED_HOST_CONFIG, "extra_host_config"),
        (create_kwargs, OWNED_CREATE_KWARGS, "extra_create_kwargs"),
    ):
        for key in sorted(set(extra) & set(owned)):
            raise UnsupportedSetting(
                f"c.DockerSpawner.{setting}[{key!r}] is set by Floe for every container; "
                f"use {owned[key]}"
            )


@dataclass(frozen=True)
class Mount:
    """A volume or host directory mounted into the container."""

    source: str
    target: str
    kind: Literal["volume", "bind"] = "volume"
    read_only: bool = False
    # What a node's Floe volume plugin names the same folder (``floe-tree-<digest>``,
    # ``floe-runner``, a job's ``floe-job-<name>``): where containers run on other machines
    # (Swarm), the mount is that volume instead of this machine's ``source``.
    node_volume: str = ""

    def to_docker(self) -> docker.types.Mount:
        return docker.types.Mount(
            target=self.target, source=self.source, type=self.kind, read_only=self.read_only
        )


@dataclass(frozen=True)
class ContainerSpec:
    """Everything Docker needs to create one Floe container."""

    name: str
    image: str
    command: list[str] | None
    environment: dict[str, str]
    labels: dict[str, str]
    mounts: tuple[Mount, ...]
    memory_bytes: int
    cpu: float
    gpu_device_ids: tuple[str, ...] = ()
    network: str | None = None
    exposed_ports: tuple[int, ...] = ()
    user: str = CONTAINER_USER
    working_dir: str | None = None
    cap_drop: tuple[str, ...] = ("ALL",)
    security_opt: tuple[str, ...] = ("no-new-privileges",)
    pids_limit: int = PIDS_LIMIT
    # The image read-only (every workspace and job); only an environment build writes it.
    read_only: bool = True
    # Folders given as memory (tmpfs) in a container whose image is read-only; the value says
    # who owns the folder ("" for /tmp's sticky 1777).
    scratch: tuple[tuple[str, str], ...] = (("/tmp", ""),)
    # False when the program keeps its own log (jobs do): the engine then stores no copy.
    engine_log: bool = True
    # The deployer's own Docker settings (workspaces: DockerSpawner's), checked by check_extras.
    extra_host_config: dict = field(default_factory=dict)
    extra_create_kwargs: dict = field(default_factory=dict)

    def sysctls(self) -> dict[str, str]:
        """IPv6 off inside the container: Floe's firewall rules are IPv4 rules, and a link-local
        IPv6 address would reach the machine's services around them."""
        if self.network in (None, "host", "none") or not IPV6_ON_THIS_MACHINE:
            return {}
        return {f"net.ipv6.conf.{which}.disable_ipv6": "1" for which in ("all", "default")}

    def device_requests(self) -> list[docker.types.DeviceRequest]:
        """The GPU request, as ``docker run --gpus device=…`` makes it."""
        if not self.gpu_device_ids:
            return []
        return [
            docker.types.DeviceRequest(
                driver="", device_ids=list(self.gpu_device_ids), capabilities=[["gpu"]]
            )
        ]

    def tmpfs(self) -> dict[str, str]:
        """The scratch folders as Docker's tmpfs options: each may grow to the memory limit,
        which their pages count against (the kernel charges them to the container)."""
        options = {}
        for path, owner in self.scratch:
            if owner:
                uid, gid = owner.split(":")
                access = f"uid={uid},gid={gid},mode=0755"
            else:
                access = "mode=1777"
            options[path] = f"{SCRATCH_OPTIONS},size={self.memory_bytes},{access}"
        return options

    def create_kwargs(self, client: docker.APIClient) -> dict:
        """Keyword arguments for ``client.create_container(**kwargs)``."""
        host_config = client.create_host_config(
            mounts=[m.to_docker() for m in self.mounts],
            mem_limit=self.memory_bytes,
            # Same as the memory limit: no swap, so "out of memory" means what it says.
            memswap_limit=self.memory_bytes,
            # A CFS quota, not NanoCpus: the engine refuses NanoCpus above the node's core
            # count, while a quota simply cannot exceed the cores there are.
            cpu_period=CPU_PERIOD_US,
            cpu_quota=int(self.cpu * CPU_PERIOD_US),
            device_requests=self.device_requests() or None,
            cap_drop=list(self.cap_drop),
            security_opt=list(self.security_opt),
            pids_limit=self.pids_limit,
            network_mode=self.network,
            sysctls=self.sysctls() or None,
            log_config=ENGINE_LOG if self.engine_log else NO_ENGINE_LOG,
            read_only=self.read_only,
            tmpfs=self.tmpfs() or None,
            **self.extra_host_config,
        )
        kwargs: dict = {
            "image": self.image,
            "name": self.name,
            "command": self.command,
            "environment": self.environment,
            "labels": self.labels,
            "user": self.user,
            "host_config": host_config,
        }
        if self.exposed_ports:
            kwargs["ports"] = [f"{p}/tcp" for p in self.exposed_ports]
        if self.working_dir:
            kwargs["working_dir"] = self.working_dir
        kwargs.update(self.extra_create_kwargs)
        return kwargs


def build_container_spec(
    *,
    name: str,
    environment: Environment,
    machine: Machine,
    labels: dict[str, str],
    env: dict[str, str],
    command: list[str] | None = None,
    mounts: list[Mount] | tuple[Mount, ...] = (),
    gpu_device_ids: list[str] | tuple[str, ...] = (),
    network: str | None = None,
    exposed_ports: tuple[int, ...] = (),
    working_dir: str | None = None,
    engine_log: bool = True,
    scratch: tuple[tuple[str, str], ...] = (("/tmp", ""),),
    user: str = CONTAINER_USER,
    read_only: bool = True,
    extra_host_config: dict | None = None,
    extra_create_kwargs: dict | None = None,
) -> ContainerSpec:
    """The container for ``environment`` on ``machine``, with Floe's hardening applied.

    Refuses the Docker socket as a mount (whoever holds it owns the host) and extra Docker
    settings that would replace what Floe sets (limits, hardening, GPUs, network).
    """
    check_extras(extra_host_config or {}, extra_create_kwargs or {})
    for mount in mounts:
        if mount.kind == "bind" and mount.source.rstrip("/") in DOCKER_SOCKET_PATHS:
            raise UnsafeMount(f"refusing to mount the Docker socket {mount.source} into {name}")
    if machine.gpus and len(gpu_device_ids) != machine.gpus:
        raise ValueError(
            f"machine {machine.slug} needs {machine.gpus} GPU id(s), got {list(gpu_device_ids)}"
        )
    return ContainerSpec(
        name=name,
        image=environment.image,
        command=command,
        environment=dict(env),
        labels=dict(labels),
        mounts=tuple(mounts),
        memory_bytes=machine.memory_bytes,
        cpu=machine.cpu,
        gpu_device_ids=tuple(gpu_device_ids),
        network=network,
        exposed_ports=tuple(exposed_ports),
        working_dir=working_dir,
        engine_log=engine_log,
        scratch=tuple(scratch),
        user=user,
        read_only=read_only,
        extra_host_config=dict(extra_host_config or {}),
        extra_create_kwargs=dict(extra_create_kwargs or {}),
    )
