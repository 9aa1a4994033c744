"""Workspaces on a Docker Swarm: ``c.JupyterHub.spawner_class = "floe-swarm"``.

Each workspace is a Swarm service of one task (as DockerSpawner's ``SwarmSpawner`` makes
them), built from the same :class:`~containers.spec.ContainerSpec` as on one machine:
the machine type's CPU and memory are the task's reservations and limits, GPUs generic
resources, the image read-only with every capability dropped. Swarm picks the node; then:

- the image, built on the hub's machine, is pushed to Floe's registry and pulled by digest;
- each dataset is the ``floe-tree-<digest>`` volume of Floe's plugin on that node
  (``c.SwarmCluster.volume_driver``), laid out there from the blob store;
- the home and /output are Docker volumes on that node (``floe-home-<home>``, filled from
  the image's home the first time), and the user's next workspace is placed on the same
  node, so their files are there; a start while that node is down or drained is refused;
  such a volume is not capped at ``c.HomeDisks.size_bytes`` as a home on one machine is
  (the hub's log says so once, and an admin's spawn page each time);
- JupyterLab's port is published on that node only (host mode); the proxy reaches it at the
  node's ``floe.address`` label, or else the address the node joined the swarm with.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, ClassVar

import docker
from jupyterhub.utils import isoformat
from sqlalchemy.orm import Session
from tornado import web
from traitlets import Float, Unicode, default

from containers.catalog import Environment, Machine
from containers.options import WorkspaceOptions
from containers.spec import CONTAINER_HOME, Mount
from dataset_mounter.mounts import MountPlan, ResolvedMount, unlaid_mounts
from floe.core.sizes import format_size
from spawner.home_disks import HomeDisks
from spawner.workspace_spawner import OUTPUT_MOUNT, WorkspaceSpawner
from swarm.cluster import SwarmCluster
from swarm.placement import can_run, gpus_held, node_gpus
from swarm.service import ENDED, published_port, service_spec

ADDRESS_LABEL = "floe.address"  # a node's address for the proxy, where Swarm's is not it
STOP_GRACE_SECONDS = 10
SERVICE_NAME_MAX = 63  # Swarm's limit on a service's name


class SwarmWorkspaceSpawner(SwarmCluster, WorkspaceSpawner):
    """A user's JupyterLab as a Swarm service on whichever node has room."""

    object_type = "service"
    object_id_key = "ID"

    home_node = Unicode(
        "", help="The swarm node (its id) that keeps this user's home; kept in the hub's state."
    )

    task_poll_seconds = Float(
        1.0,
        config=True,
        help="""Most seconds between looks at a starting workspace's task (looked at every
        50 ms at first: most tasks run within a second).""",
    )

    @default("pull_policy")
    def _pull_policy_default(self) -> str:
        return "skip"  # the node Swarm picks pulls the image

    @default("volume_driver")
    def _volume_driver_default(self) -> str:
        return "floe"  # datasets cannot come from the hub's disk on another machine

    _manager: ClassVar[docker.APIClient | None] = None

    @property
    def client(self) -> docker.APIClient:  # type: ignore[override]
        """The manager's Docker API, one client for every workspace."""
        cls = SwarmWorkspaceSpawner
        if cls._manager is None:
            cls._manager = self.manager_client()
        return cls._manager

    @default("object_name")
    def _object_name_default(self) -> str:
        """DockerSpawner's name, or for one past Swarm's 63 characters its start and a hash
        of the whole (no two users share one)."""
        name = super()._object_name_default()
        if len(name) <= SERVICE_NAME_MAX:
            return name
        mark = hashlib.sha256(name.encode()).hexdigest()[:16]
        return f"{name[: SERVICE_NAME_MAX - 17].rstrip('-')}-{mark}"

    @property
    def home_name(self) -> str:
        """The home's volume name part: the escaped user name and a mark of the account, so a
        name deleted and made again never finds the old account's home on a node."""
        account = hashlib.sha256(isoformat(self.user.created).encode()).hexdigest()[:10]
        return f"{super().home_name}.{account}"

    # --- what differs from one machine --------------------------------------------------

    async def _gpus_free_and_total(self) -> tuple[int, int]:
        """The swarm's GPUs: those its ready machines advertise, less those tasks hold."""
        nodes = await self.docker("nodes")
        tasks = await self.docker("tasks", filters={"desired-state": "running"})
        ready = [n for n in nodes if n.get("Status", {}).get("State") == "ready"]
        total = sum(node_gpus(n) for n in ready)
        return max(total - sum(gpus_held(tasks).values()), 0), total

    async def _claim_gpus(self, options: WorkspaceOptions) -> list[str]:
        return []  # Swarm picks the node and its GPUs (generic resources): none held here

    async def _spec_arguments(self, options: WorkspaceOptions) -> dict:
        arguments = await super()._spec_arguments(options)
        # How many GPUs the task reserves; which ones is Swarm's choice on the node.
        arguments["gpu_device_ids"] = [f"swarm-{i}" for i in range(options.machine.gpus)]
        return arguments

    async def _environment_image(self, environment: Environment) -> str:
        """Built here on first use as on one machine, then pushed for the node to pull."""
        self._image_here = await super()._environment_image(environment)
        if not self.registry:
            return self._image_here
        self._report(18, "Sending the environment's image to Floe's registry")
        try:
            # Not on the Docker threads every spawn and stop share: a first push takes a while.
            return await asyncio.get_running_loop().run_in_executor(
                None, self.published_image, self._image_here, self.client
            )
        except (docker.errors.APIError, RuntimeError) as err:
            raise web.HTTPError(503, f"the image could not reach the registry: {err}") from err

    async def get_command(self) -> list[str]:
        """The image's command as this machine has it (the manager may never have pulled it)."""
        if self.cmd:
            return [*self.cmd, *self.get_args()]
        here = getattr(self, "_image_here", self.image)
        info = await self._blocking(self.builds().api.inspect_image, here)
        return [*info["Config"]["Cmd"], *self.get_args()]

    async def _prepare_home(self) -> None:
        """The home is a volume on its node: only that the node can run it is checked."""
        self._warn_uncapped()
        if not self.home_node:
            self._report(25, "Your home will be made on the machine Swarm picks")
            return
        try:
            node = await self.docker("inspect_node", self.home_node)
        except docker.errors.NotFound:  # an admin removed it from the swarm (docker node rm)
            self.log.warning("%s: home node %s left the swarm", self.user.name, self.home_node)
            self._report(25, "The machine that kept your home has left: a new home is made")
            self.home_node = ""
            return
        name = node.get("Description", {}).get("Hostname", self.home_node[:12])
        state = node.get("Status", {}).get("State")
        availability = node.get("Spec", {}).get("Availability")
        if state != "ready" or availability != "active":
            raise web.HTTPError(
                503,
                f"your home is on the machine {name}, which is {state}"
                + ("" if availability == "active" else f" and {availability}")
                + "; try again once an admin has it back",
            )
        machine = self.workspace_options.machine  # start() checked them before this
        if not self._runs_on(node, machine):
            offered = self.catalog.machines_for(self._member)
            runs = [m.display_name for m in offered if self._runs_on(node, m)]
            raise web.HTTPError(
                409,
                f"your home is on the machine {name}, where {machine.display_name!r} cannot "
                "run; pick a machine type that can: " + (", ".join(runs) or "none"),
            )
        self._report(25, f"Your home is on the machine {name}")

    _uncapped_said: ClassVar[bool] = False

    def _warn_uncapped(self) -> None:
        """Tell the deployer homes here have no size limit, where they think they have one."""
        size = HomeDisks(config=self.config).size_bytes
        if not size:
            return
        said = (
            "Homes on swarm nodes are plain Docker volumes, not capped at "
            f"c.HomeDisks.size_bytes ({format_size(size)}): a user can fill their node's disk"
        )
        if not SwarmWorkspaceSpawner._uncapped_said:
            SwarmWorkspaceSpawner._uncapped_said = True
            self.log.warning(said)
        if self.user.admin:
            self._report(20, f"Note for admins: {said}")

    def _runs_on(self, node: dict, machine: Machine) -> bool:
        return can_run(node, machine, self.placement(machine.slug))

    async def _release_home(self) -> None:
        return None  # the volume stays on its node, for the next workspace there

    async def delete_forever(self) -> None:
        # The node's volume cannot be removed through the manager; the account mark in its
        # name means a new user of the same name never gets it.
        self.log.info(
            "%s deleted: the volume floe-home-%s stays on node %s until an admin removes it",
            self.user.name,
            self.home_name,
            self.home_node or "(none)",
        )

    def _lay_out(self, db: Session, plans: list[MountPlan]) -> list[ResolvedMount]:
        return unlaid_mounts(plans)  # the node's plugin lays each tree out

    def _workspace_mounts(self) -> list[Mount]:
        return [
            Mount(source=f"{self.prefix}-home-{self.home_name}", target=CONTAINER_HOME),
            Mount(source=f"{self.prefix}-output-{self.home_name}", target=OUTPUT_MOUNT),
            *(
                m
                for m in super()._workspace_mounts()
                if m.node_volume  # the datasets
            ),
        ]

    async def _last_lines(self, count: int) -> str:
        def read() -> bytes:
            lines = self.client.service_logs(self.object_id, stdout=True, stderr=True, tail=count)
            return b"".join(lines)

        return (await self._blocking(read)).decode(errors="replace")

    # --- the service ---------------------------------------------------------------------

    async def create_object(self) -> dict:
        spec = await self.container_spec()
        problems = []
        if spec.extra_host_config or spec.extra_create_kwargs:
            problems.append("extra_host_config and extra_create_kwargs have no Swarm equivalent")
        if not self.remove or self.post_start_cmd:
            problems.append("remove = False and post_start_cmd have no Swarm equivalent")
        if self.dataset_mounts and not self.volume_driver:
            problems.append("datasets need Floe's volume plugin (c.SwarmCluster.volume_driver)")
        if problems:
            raise web.HTTPError(500, "Floe is misconfigured: " + "; ".join(problems))
        options = self.workspace_options or self._parse_options()
        constraints = self.placement(options.machine.slug)
        if self.home_node:
            constraints.append(f"node.id=={self.home_node}")
        made = service_spec(
            spec,
            constraints,
            STOP_GRACE_SECONDS,
            volume_driver=self.volume_driver,
            ports=(self.port,),
        )
        return await self.docker("create_service", **made)

    async def _task(self) -> dict | None:
        """The service's newest task; None while it has none (or the service is gone)."""
        if not self.object_id:
            return None
        try:
            tasks = await self.docker("tasks", filters={"service": self.object_id})
        except docker.errors.NotFound:
            return None
        return max(tasks, key=lambda t: t.get("CreatedAt", "")) if tasks else None

    async def start_object(self) -> None:
        """Wait until the task runs, saying why while it does not (no machine has room, the
        image is being pulled...); its node then keeps the user's home."""
        said, pause = "", 0.05
        while True:
            task = await self._task()
            status = (task or {}).get("Status", {})
            state = status.get("State", "new")
            if state == "running":
                self.home_node = task["NodeID"]
                return
            if state in ENDED:
                await self.remove_object()
                raise web.HTTPError(
                    500, f"the workspace could not start on the swarm: {status.get('Err') or state}"
                )
            why = status.get("Err") or status.get("Message") or state
            if why != said:
                self._report(40, f"Swarm: {why}")
                said = why
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.task_poll_seconds)

    async def stop_object(self) -> None:
        return None  # removing the service stops its task (remove_object)

    async def remove_object(self) -> None:
        try:
            await self.docker("remove_service", self.object_id or self.object_name)
        except docker.errors.NotFound:
            pass

    async def poll(self) -> int | str | None:
        service = await self.get_object()
        if not service:
            return 0
        task = await self._task()
        state = (task or {}).get("Status", {}).get("State", "new")
        if state in ENDED:
            return f"task {state}: {task['Status'].get('Err', '')}".strip()
        if task and task.get("DesiredState") not in (None, "running", "ready", "accepted"):
            return f"task ends ({task['DesiredState']})"  # its machine drained or lost
        if task and state == "running" and await self._node_down(task["NodeID"]):
            return "its machine stopped answering"
        return None  # running, or still on its way

    async def _node_down(self, node_id: str) -> bool:
        try:
            node = await self.docker("inspect_node", node_id)
        except docker.errors.NotFound:
            return True
        return node.get("Status", {}).get("State") in ("down", "disconnected")

    async def get_ip_and_port(self) -> tuple[str, int]:
        task = await self._task()
        port = published_port(task or {}, self.port)
        if task is None or port is None:
            raise web.HTTPError(500, "the workspace's port was not published on its machine")
        node = await self.docker("inspect_node", task["NodeID"])
        labels = node.get("Spec", {}).get("Labels") or {}
        address = labels.get(ADDRESS_LABEL) or node["Status"].get("Addr", "")
        if address in ("", "0.0.0.0", "127.0.0.1"):  # a manager may say so of itself
            manager = node.get("ManagerStatus", {}).get("Addr", "")
            address = manager.rpartition(":")[0] or address
        return address, port

    # --- state that survives a hub restart -----------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.home_node:
            state["home_node"] = self.home_node
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.home_node = state.get("home_node", self.home_node)
