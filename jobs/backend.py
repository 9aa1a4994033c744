"""Where job containers run: the runner's backend, one plug-point (``c.JobRunner.backend_class``).

The runner decides what runs and when (queue, GPUs, states, what is kept); a backend only
makes, starts, waits for, stops and removes containers by name. :class:`DockerBackend` uses
this node's Docker engine; a Swarm backend (jobs as replicated-job services) fits the same
methods. A container's state is told in Docker's words (``ExitCode``, ``OOMKilled``), which
``jobs.outcomes`` reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import docker
from traitlets import Integer
from traitlets.config import LoggingConfigurable

from containers.gpu import GPU_LABEL, gpus_on_labels
from containers.spec import ContainerSpec


class ContainerGone(Exception):
    """The container is not there (any more)."""


@dataclass(frozen=True)
class MachineInfo:
    """One machine where jobs run (a swarm's node), as ``floe machine ls`` shows it."""

    name: str
    role: str
    state: str  # ready, down, disconnected
    availability: str  # active, pause, drain
    cpu: float
    memory_bytes: int
    gpus: int
    gpus_free: int
    machine_types: list[str]


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    state: dict  # Docker's State: Running, ExitCode, OOMKilled…


class RunnerBackend(LoggingConfigurable):
    """What the runner asks of wherever jobs run. Every call may block; the runner calls them
    from its own threads, never from the service's event loop."""

    # True where the backend picks a job's GPUs itself (Swarm): the runner then asks only
    # for a number of them, and :meth:`gpu_total` says how many there are.
    places_gpus = False
    # True where the node running a job lays out the trees it mounts (``Mount.node_volume``):
    # the runner then lays out none here.
    lays_out_trees = False
    # True where a job's folder is made on the node that runs it and sent back to the service
    # (``jobs.job_return``): the runner waits up to ``return_seconds`` for it once the job ended.
    folder_returns = False
    return_seconds = 0.0
    # True where a started container may wait before it runs (Swarm places the task when a
    # node has room): the job stays 'starting' until :meth:`wait_started` returns.
    starts_pending = False

    def wait_started(self, container_id: str, say: Callable[[str], None]) -> bool:
        """Return once the container runs or has ended (whether it ran); ``say`` why it waits
        meanwhile. :class:`ContainerGone` if it is not there."""
        return True

    def gpu_total(self) -> int:
        """GPUs wherever this backend runs jobs (only asked when it places them)."""
        raise NotImplementedError

    def machines(self, catalog_machines: list) -> list[MachineInfo] | None:
        """The machines jobs run on, each with the machine types that may go there (None:
        this one machine, as the catalog says)."""
        return None

    def gpus_in_use(self, except_name: str = "") -> set[str]:
        """GPU ids held by running Floe containers (their ``floe.gpus`` label)."""
        raise NotImplementedError

    def create(self, spec: ContainerSpec) -> str:
        """Make the container (not started); its id."""
        raise NotImplementedError

    def image_digest(self, image: str) -> str:
        raise NotImplementedError

    def start(self, container_id: str) -> None:
        raise NotImplementedError

    def wait(self, container_id: str) -> None:
        """Return once the container has exited; :class:`ContainerGone` if it is not there."""
        raise NotImplementedError

    def find(self, name: str) -> ContainerInfo | None:
        raise NotImplementedError

    def address(self, container_id: str, port: int) -> str | None:
        """``host:port`` where this machine reaches ``port`` of the running container (a
        serving job's), or None when it is not running."""
        raise NotImplementedError

    def stop(self, name: str, timeout: int) -> None:
        """Ask the container to exit, killing it after ``timeout`` s; gone already is fine."""
        raise NotImplementedError

    def remove(self, name: str) -> None:
        """Remove the container; gone already is fine."""
        raise NotImplementedError


class DockerBackend(RunnerBackend):
    """Job containers on this node's Docker engine (``DOCKER_HOST`` and friends apply)."""

    timeout = Integer(
        120, config=True, help="Seconds a call to the Docker engine may take before it fails."
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.client = docker.from_env(timeout=self.timeout).api

    def gpus_in_use(self, except_name: str = "") -> set[str]:
        running = self.client.containers(filters={"label": GPU_LABEL})
        return gpus_on_labels(running, except_name)

    def create(self, spec: ContainerSpec) -> str:
        return self.client.create_container(**spec.create_kwargs(self.client))["Id"]

    def image_digest(self, image: str) -> str:
        return self.client.inspect_image(image)["Id"]

    def start(self, container_id: str) -> None:
        self.client.start(container_id)

    def wait(self, container_id: str) -> None:
        try:
            self.client.wait(container_id)
        except docker.errors.NotFound:
            raise ContainerGone(container_id) from None

    def find(self, name: str) -> ContainerInfo | None:
        try:
            info = self.client.inspect_container(name)
        except docker.errors.NotFound:
            return None
        return ContainerInfo(info["Id"], info.get("State", {}))

    def address(self, container_id: str, port: int) -> str | None:
        try:
            info = self.client.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        if not info.get("State", {}).get("Running"):
            return None
        networks = info.get("NetworkSettings", {}).get("Networks") or {}
        found = [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]
        return f"{found[0]}:{port}" if found else None

    def stop(self, name: str, timeout: int) -> None:
        try:
            self.client.stop(name, timeout=timeout)
        except docker.errors.NotFound:
            pass

    def remove(self, name: str) -> None:
        try:
            self.client.remove_container(name, force=True)
        except docker.errors.NotFound:
            pass
