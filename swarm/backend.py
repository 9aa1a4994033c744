"""Job containers as Docker Swarm services: ``c.JobRunner.backend_class = SwarmBackend``.

Each job is a service of one task that is never restarted, made from the same
:class:`~containers.spec.ContainerSpec` as on one machine: the machine type's CPU and
memory become the task's limits *and* reservations (so Swarm places it only where they are
free), GPUs a reservation of generic resources (``NVIDIA-GPU``: Swarm picks the node and
the devices), the hardening Swarm can express carried over (read-only image, all
capabilities dropped, a process limit, memory scratch folders, no engine log).

Swarm keeps the service while the floe service restarts; the runner finds it again by name
and follows its task. A task whose node went down ends the job: "node lost".

What Swarm cannot express on API 1.41 and so is not set: ``no-new-privileges`` (every
capability is dropped all the same), swap equal to the memory limit, scratch folders owned
by the job's user (they are 1777, like /tmp).

With ``volume_driver`` set (each node running ``floe-volume-plugin``), a job's mounts are the
plugin's volumes: its code and inputs are trees the node lays out from the blob store, and its
folder (log, result note, /output) is made on the node and sent back to the floe service
(``floe_node.job_volumes``, ``jobs.job_return``): machines share nothing but the network. Without
it, the mounts are this machine's paths, and the nodes must share them (``FLOE_DATA_DIR`` and
Floe's install path).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import docker
from traitlets import Float, Integer, Unicode

from containers.spec import ContainerSpec
from jobs.backend import ContainerGone, ContainerInfo, MachineInfo, RunnerBackend
from swarm.cluster import SwarmCluster
from swarm.nodes import describe_nodes
from swarm.placement import node_gpus
from swarm.service import ENDED, service_spec, task_ran

MACHINES_FRESH_S = 3.0  # how long the nodes' description is reused (floe machine ls)


class SwarmBackend(SwarmCluster, RunnerBackend):
    """Jobs as Swarm services, through a manager's Docker API."""

    poll_seconds = Float(
        1.0, config=True, help="How often a running job's task is looked at, in seconds."
    )
    stop_grace_seconds = Integer(
        10,
        config=True,
        help="Seconds a stopped job's process has to exit before it is killed (its "
        "service's stop grace period, fixed when the job starts).",
    )
    network = Unicode(
        "",
        config=True,
        help="""An attachable overlay network jobs join (docker network create -d overlay
        --attachable NAME); empty: each machine's default bridge.""",
    )
    node_lost_seconds = Float(
        20.0,
        config=True,
        help="""Seconds a job's machine must stay down (or disconnected) before the job ends
        'node lost': a moment's network trouble ends nothing.""",
    )
    return_seconds = Float(
        600.0,
        config=True,
        help="""Seconds the runner waits, after a job's container exited, for its node to send
        the rest of its log and its /output (with volume_driver set); past it the job ends
        with what arrived.""",
    )

    @property
    def lays_out_trees(self) -> bool:  # type: ignore[override]
        return bool(self.volume_driver)

    @property
    def folder_returns(self) -> bool:  # type: ignore[override]
        return bool(self.volume_driver)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.client = self.manager_client()
        self._made: dict[str, ContainerSpec] = {}  # created, not started: started as services
        self._down_since: dict[str, float] = {}  # nodes seen down, since when (monotonic)
        self._stopped: dict[str, ContainerInfo] = {}  # services removed by stop, last seen
        self._machines: list[MachineInfo] = []  # the nodes as last asked (machines())
        self._machines_at = -MACHINES_FRESH_S
        self._machines_asking = False
        self._lock = threading.Lock()

    places_gpus = True

    def gpus_in_use(self, except_name: str = "") -> set[str]:
        return set()  # Swarm picks a node's GPUs itself (generic resources)

    def gpu_total(self) -> int:
        """The GPUs the swarm's ready nodes advertise (``--node-generic-resource``)."""
        nodes = self.client.nodes()
        return sum(node_gpus(n) for n in nodes if n.get("Status", {}).get("State") == "ready")

    def machines(self, catalog_machines: list) -> list[MachineInfo]:
        """The swarm's nodes: state, resources, free GPUs, machine types placed there. Asked
        of the manager at most every MACHINES_FRESH_S, by one caller at a time; the others
        meanwhile get the last answer (none yet: an empty list), never a wait."""
        with self._lock:
            fresh = time.monotonic() - self._machines_at < MACHINES_FRESH_S
            if fresh or self._machines_asking:
                return self._machines
            self._machines_asking = True
        try:
            constraints = {m.slug: self.placement(m.slug) for m in catalog_machines}
            tasks = self.client.tasks(filters={"desired-state": "running"})
            found = describe_nodes(self.client.nodes(), tasks, catalog_machines, constraints)
            with self._lock:
                self._machines, self._machines_at = found, time.monotonic()
            return found
        finally:
            with self._lock:
                self._machines_asking = False

    def create(self, spec: ContainerSpec) -> str:
        """Nothing is made on the swarm yet (a service starts at once): the spec is kept, its
        image pushed to the registry now (a stop meanwhile is seen before the start)."""
        if self.registry:  # create_service then hands the nodes the registry's credentials
            spec = replace(spec, image=self.published_image(spec.image, self.client))
        with self._lock:
            self._made[spec.name] = spec
        return spec.name

    def start(self, container_id: str) -> None:
        with self._lock:
            spec = self._made.pop(container_id, None)
        if spec is None:  # removed (stopped) since it was made
            return
        machine = spec.environment.get("FLOE_MACHINE", "")
        made = service_spec(
            spec, self.placement(machine), self.stop_grace_seconds, self.network, self.volume_driver
        )
        self.client.create_service(**made)

    def _task(self, name: str) -> dict | None:
        """The service's newest task; None while it has none."""
        tasks = self.client.tasks(filters={"service": name})
        return max(tasks, key=lambda t: t.get("CreatedAt", "")) if tasks else None

    def _node_down(self, node_id: str) -> bool:
        try:
            node = self.client.inspect_node(node_id)
        except docker.errors.NotFound:
            return True
        return node.get("Status", {}).get("State") in ("down", "disconnected")

    def _node_lost(self, node_id: str) -> bool:
        """Down for ``node_lost_seconds`` at least, as seen by this backend."""
        now = time.monotonic()
        down = self._node_down(node_id)  # asked of the manager outside the lock
        with self._lock:
            if not down:
                self._down_since.pop(node_id, None)
                return False
            since = self._down_since.setdefault(node_id, now)
        return now - since >= self.node_lost_seconds

    def find(self, name: str) -> ContainerInfo | None:
        try:
            service = self.client.inspect_service(name)
        except docker.errors.NotFound:
            with self._lock:  # stopped (its service removed): how it was last seen
                return self._stopped.get(name)
        task = self._task(name)
        if task is None:
            return ContainerInfo(service["ID"], {"Running": False, "Status": "pending"})
        status = task.get("Status", {})
        state = status.get("State", "")
        info = {
            "Running": state == "running",
            "Status": state,
            "Task": task["ID"],
            "Error": status.get("Err", ""),
            "Node": task.get("NodeID", ""),
        }
        code = status.get("ContainerStatus", {}).get("ExitCode")
        ran = state == "running" or (state in ENDED and task_ran(state, status))
        info["Ran"] = ran  # its folder comes back from its node
        if state in ENDED and code is not None and ran:
            info["ExitCode"] = code
        if state not in ENDED and info["Node"] and self._node_lost(info["Node"]):
            info["NodeLost"] = True
        return ContainerInfo(service["ID"], info)

    starts_pending = True

    def wait_started(self, container_id: str, say: Callable[[str], None]) -> bool:
        """Until Swarm's task runs: pending (no node has room yet), pulling, preparing.
        Looked at often at first (most tasks run within a second), then every poll_seconds."""
        said, pause = "", 0.05
        while True:
            info = self.find(container_id)
            if info is None:
                raise ContainerGone(container_id)
            state = info.state
            if state["Running"] or state["Status"] in ENDED or state.get("NodeLost"):
                return bool(state.get("Ran"))
            why = f"waiting for a machine: {state['Error']}" if state.get("Error") else ""
            why = why or f"its task is {state['Status']}"
            if why != said:
                say(why)
                said = why
            time.sleep(pause)
            pause = min(pause * 2, self.poll_seconds)

    def wait(self, container_id: str) -> None:
        task_id = ""
        while True:
            info = self.find(container_id)
            if info is None:
                if task_id:  # removed (stopped): its container may still be exiting
                    self._settle(task_id)
                raise ContainerGone(container_id)
            task_id = info.state.get("Task", task_id)
            if info.state["Status"] in ENDED or info.state.get("NodeLost"):
                return
            time.sleep(self.poll_seconds)

    def _settle(self, task_id: str) -> bool:
        """Wait (a while at most) until the task's container has exited: a removed service's
        task is given its stop grace period first. False when that is not known (its node
        went down, or the wait ran out)."""
        deadline = time.monotonic() + self.stop_grace_seconds + 30
        while time.monotonic() < deadline:
            try:
                task = self.client.inspect_task(task_id)
            except docker.errors.NotFound:
                return True  # the manager keeps a removed service's tasks until they ended
            state = task.get("Status", {}).get("State", "")
            if state in ENDED:
                return True
            if self._node_down(task.get("NodeID", "")):
                return False
            time.sleep(self.poll_seconds)
        return False

    def address(self, container_id: str, port: int) -> str | None:
        return None  # serving jobs on a swarm need an overlay network: not yet

    def stop(self, name: str, timeout: int) -> None:
        """Remove the service; return once its task's container has exited. Until the runner
        removes the job, :meth:`find` tells how it was last seen: 'stopping' until its
        container is known to have exited, then 'shutdown', and whether it ran (then its
        folder comes back from its node: asked for only once nothing in it runs any more)."""
        last = self.find(name)
        try:
            task = self._task(name)
        except docker.errors.NotFound:
            task = None
        with self._lock:
            self._made.pop(name, None)
            if last is not None:  # before the service goes: a look meanwhile finds this
                state = {**last.state, "Running": False, "Status": "stopping"}
                self._stopped[name] = ContainerInfo(last.id, state)
        try:
            self.client.remove_service(name)  # its task gets the grace period, then is killed
        except docker.errors.NotFound:
            pass
        exited = self._settle(task["ID"]) if task is not None else True
        with self._lock:
            if name in self._stopped:
                seen = self._stopped[name]
                ran = seen.state.get("Ran", False) and exited
                state = {**seen.state, "Status": "shutdown", "Ran": ran}
                self._stopped[name] = ContainerInfo(seen.id, state)

    def remove(self, name: str) -> None:
        with self._lock:
            self._made.pop(name, None)
            self._stopped.pop(name, None)
        try:
            self.client.remove_service(name)
        except docker.errors.NotFound:
            pass
