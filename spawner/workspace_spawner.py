"""WorkspaceSpawner: a user's JupyterLab in a Docker container of their chosen machine type.

DockerSpawner keeps doing what it does well (naming, start/stop/poll, hub state); Floe adds
the options (environment and machine type from the catalog), GPU allocation, the per-user
home volume, and builds the container through the container-spec builder jobs share.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

import docker
from dockerspawner import DockerSpawner
from sqlalchemy.orm import Session
from tornado import web
from traitlets import Float, Instance, Integer, Unicode, default

from containers.catalog import Catalog, Environment
from containers.gpu import GPU_LABEL, gpus_on_labels
from containers.options import WorkspaceOptions, options_from_form
from containers.spec import (
    CONTAINER_HOME,
    ContainerSpec,
    Mount,
    UnsafeMount,
    UnsupportedSetting,
    build_container_spec,
)
from dataset_mounter.mounts import MountPlan, ResolvedMount, materialize_mounts, resolve_mounts
from dataset_mounter.node_volumes import tree_volume
from dataset_mounter.settings import DatasetSettings
from environments.builder import EnvironmentBuilder
from environments.custom import trusted_finder
from environments.images import ApprovedImageGone, environment_chain, environment_image
from floe.core.errors import FloeUserError, GpuUnavailable
from floe.db.database import FloeDatabase

from .docker_settings import mounts_from_binds, mounts_from_docker, unsupported_settings
from .home_disks import HomeDisks
from .readiness import ServerExited, wait_until_answering
from .workspace_choices import WorkspaceChoices
from .workspace_gpus import WorkspaceGpus
from .workspace_home import WorkspaceHome

# Workspaces keep what they make for Save output here (on the home disk).
OUTPUT_MOUNT = "/output"
# The most lines of an environment's build shown on the spawn page (the rest: the hub's log).
BUILD_LINES_SHOWN = 400
_NO_GPU_DRIVER = "could not select device driver"


class WorkspaceSpawner(WorkspaceChoices, WorkspaceHome, WorkspaceGpus, DockerSpawner):
    """Spawn a workspace container for the environment and machine type the user picked."""

    catalog = Instance(Catalog)

    @default("catalog")
    def _catalog_default(self) -> Catalog:
        return Catalog(parent=self)

    datasets = Instance(DatasetSettings)

    @default("datasets")
    def _datasets_default(self) -> DatasetSettings:
        return DatasetSettings(parent=self)

    database = Instance(FloeDatabase)

    @default("database")
    def _database_default(self) -> FloeDatabase:
        return FloeDatabase(parent=self)

    home_disks = Instance(HomeDisks)

    @default("home_disks")
    def _home_disks_default(self) -> HomeDisks:
        return HomeDisks(parent=self)

    home_volume_template = Unicode(
        "{prefix}-home-{username}",
        config=True,
        help="""
        Name of the Docker volume that held /home/jovyan/work before homes were disks of a
        capped size (c.HomeDisks). If it exists when its user next starts a workspace, its
        files move into the new home's work/ folder and the volume is removed.
        ``{prefix}`` and ``{username}`` are filled in.
        """,
    )

    docker_threads = Integer(
        8,
        config=True,
        help="""
        Threads for blocking Docker calls. DockerSpawner uses one for all users, which makes
        concurrent spawns wait in line; a few threads let them overlap.
        """,
    )

    ready_poll_interval = Float(
        0.1,
        config=True,
        help="""
        Seconds between checks whether a starting workspace answers yet. JupyterHub's own
        check backs off exponentially and can notice a ready server seconds late; 0 leaves
        it to JupyterHub alone.
        """,
    )

    builder = Instance(EnvironmentBuilder)

    @default("builder")
    def _builder_default(self) -> EnvironmentBuilder:
        return EnvironmentBuilder(parent=self)

    _pool: ClassVar[ThreadPoolExecutor | None] = None

    gpu_ids = Instance(list, args=(), help="GPU device ids held by this server.")
    progress_events = Instance(list, args=(), help="What the spawn page has to show so far.")
    dataset_mounts = Instance(list, args=(), help="Datasets mounted in the running server.")
    workspace_options = Instance(
        WorkspaceOptions, allow_none=True, help="The checked options of the current start."
    )

    @default("remove")
    def _remove_default(self) -> bool:
        return True

    @default("prefix")
    def _prefix_default(self) -> str:
        return "floe-workspace"

    @default("options_form")
    def _options_form_default(self) -> object:
        return self._render_options_form

    @default("options_from_form")
    def _options_from_form_default(self) -> object:
        return options_from_form

    @default("apply_user_options")
    def _apply_user_options_default(self) -> object:
        # JupyterHub's hook for checking options before start: bad ones become a 400 there.
        return lambda spawner, user_options: spawner._apply_options(user_options)

    @property
    def executor(self) -> ThreadPoolExecutor:
        cls = type(self)
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(self.docker_threads, thread_name_prefix="floe-docker")
        return cls._pool

    async def _blocking(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work`` on the Docker threads, off the hub's event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, work, *args)

    # --- start and stop ---------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        problems = unsupported_settings(self.config)
        if problems:  # the hub refuses these at start (jupyterhub_config.py); others land here
            raise web.HTTPError(500, "Floe is misconfigured: " + "; ".join(problems))
        options = self.workspace_options = self._parse_options()
        self.progress_events = []
        self._report(
            10,
            f"Starting {options.environment.display_name} on {options.machine.display_name} "
            f"({options.machine.summary})",
        )
        self.image = await self._environment_image(options.environment)
        # Exported to the server as MEM_LIMIT / CPU_LIMIT, as JupyterHub does.
        self.mem_limit = options.machine.memory_bytes
        self.cpu_limit = options.machine.cpu
        self.gpu_ids = await self._claim_gpus(options)
        try:
            await self._prepare_home()
            self.dataset_mounts = await self._mount_datasets(options)
            ip, port = await super().start()
            self._report(50, "Container started; waiting for JupyterLab to answer")
            await self._wait_until_answering(ip, port)
            return ip, port
        except docker.errors.APIError as err:
            await self._discard_failed_container()
            self._release_gpus()
            if _NO_GPU_DRIVER in str(err):
                raise web.HTTPError(
                    503,
                    f"the '{options.machine.slug}' machine needs a GPU, but this node's Docker "
                    f"engine has no GPU driver ({err.explanation}). Ask the admin to install "
                    "the NVIDIA container toolkit, or pick a CPU machine type.",
                ) from err
            raise web.HTTPError(
                500, f"the Docker engine refused the workspace container: {err.explanation}"
            ) from err
        except BaseException:
            self._release_gpus()
            raise

    async def _claim_gpus(self, options: WorkspaceOptions) -> list[str]:
        """This node's GPUs for the machine type, held until the workspace stops."""
        if not options.machine.gpus:
            return []
        try:
            running = await self.docker("containers", filters={"label": GPU_LABEL})
            ids = self.gpu_allocator.claim(
                self.gpu_holder, options.machine.gpus, gpus_on_labels(running, self.object_name)
            )
        except GpuUnavailable as err:
            raise web.HTTPError(err.status, err.message) from err
        self._report(20, f"Reserved GPU {', '.join(ids)}")
        return ids

    async def _environment_image(self, environment: Environment) -> str:
        """The environment's image; on its first use, built here with the build on the page."""
        if not environment.built:
            return environment.image
        said = 0

        def say(line: str) -> None:
            nonlocal said
            said += 1
            if said <= BUILD_LINES_SHOWN:
                self._report(15, line[:300])

        def build() -> str:
            with self.database.sessions() as db:
                chain = environment_chain(environment, trusted_finder(db, self.catalog))
            note = partial(self._report, 15)
            return environment_image(chain, self.builder, note=note, say=say).image

        try:
            # Not on the Docker threads every spawn and stop share: a build takes minutes.
            return await asyncio.get_running_loop().run_in_executor(None, build)
        except ApprovedImageGone as err:
            raise web.HTTPError(err.status, err.message) from err
        except FloeUserError as err:
            raise web.HTTPError(
                500, f"the {environment.display_name} environment could not be built: {err}"
            ) from err

    async def _mount_datasets(self, options: WorkspaceOptions) -> list[ResolvedMount]:
        if not options.datasets:
            return []

        def plan() -> list[ResolvedMount]:
            with self.database.sessions() as db:
                self._claim_name(db)
                plans = resolve_mounts(
                    db, self._caller, list(options.datasets), roots=list(self.datasets.mount_roots)
                )
                return self._lay_out(db, plans)

        try:
            mounts = await self._blocking(plan)
        except FloeUserError as err:
            # Whatever the kind (unknown, not readable, bad mount point), the spawn request
            # itself is what was wrong.
            raise web.HTTPError(400, err.message) from err
        for m in mounts:
            self._report(30, f"Mounted {m.source} at {m.target} (read-only)")
        return mounts

    def _lay_out(self, db: Session, plans: list[MountPlan]) -> list[ResolvedMount]:
        """The checked mounts' trees, laid out on this machine (where the container runs)."""
        return materialize_mounts(db, plans, self.datasets.store, self.datasets.cache_path)

    def _report(self, percent: int, message: str) -> None:
        self.progress_events = [*self.progress_events, {"progress": percent, "message": message}]

    async def progress(self) -> AsyncIterator[dict]:
        """Progress for the spawn page; JupyterHub stops reading when the spawn ends."""
        sent = 0
        while True:
            for event in self.progress_events[sent:]:
                sent += 1
                yield event
            await asyncio.sleep(0.2)

    async def _wait_until_answering(self, ip: str, port: int) -> None:
        if self.ready_poll_interval <= 0:
            return
        try:
            await wait_until_answering(
                f"http://{ip}:{port}{self.server.base_url}api",
                timeout=self.http_timeout,
                interval=self.ready_poll_interval,
                still_running=self._still_running,
            )
        except ServerExited:
            logs = await self._last_lines(15)
            await self._discard_failed_container()
            raise web.HTTPError(
                500, "the workspace stopped while starting; its last lines:\n" + logs
            ) from None

    async def _last_lines(self, count: int) -> str:
        """The last ``count`` lines the workspace's server printed."""
        logs = await self.docker("logs", self.object_id, tail=count)
        return logs.decode(errors="replace")

    async def _still_running(self) -> bool:
        return await self.poll() is None

    async def _discard_failed_container(self) -> None:
        if self.object_id:
            await self.remove_object()
            self.object_id = ""

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            self._release_gpus()
        await self._release_home()

    async def create_object(self) -> dict:
        spec = await self.container_spec()
        return await self.docker("create_container", **spec.create_kwargs(self.client))

    async def container_spec(self) -> ContainerSpec:
        options = self.workspace_options or self._parse_options()
        try:
            return build_container_spec(**await self._spec_arguments(options))
        except (UnsafeMount, UnsupportedSetting) as err:
            raise web.HTTPError(500, f"Floe is misconfigured: {err}") from err

    async def _deployer_extra(self, name: str) -> dict:
        """DockerSpawner's ``extra_host_config`` or ``extra_create_kwargs``, as it reads them."""
        value = self._eval_if_callable(getattr(self, name))
        if inspect.isawaitable(value):
            value = await value
        return self._render_templates(value or {})

    def _workspace_mounts(self) -> list[Mount]:
        """The home, /output and the datasets, as this machine's folders (each dataset also
        named as the volume a node's plugin would lay it out as)."""
        home, output = self.home_disks.folders(self.home_name)
        return [
            Mount(source=str(home), target=CONTAINER_HOME, kind="bind"),
            Mount(source=str(output), target=OUTPUT_MOUNT, kind="bind"),
            *(
                Mount(
                    source=str(m.path or ""),
                    target=m.target,
                    kind="bind",
                    read_only=True,
                    node_volume=tree_volume(m.tree),
                )
                for m in self.dataset_mounts
            ),
        ]

    async def _spec_arguments(self, options: WorkspaceOptions) -> dict:
        return dict(
            name=self.object_name,
            # The image start() chose: a built environment's is known once it is built.
            environment=replace(options.environment, image=self.image),
            machine=options.machine,
            labels={
                "floe.kind": "workspace",
                "floe.user": self.user.name,
                "floe.environment": options.environment.slug,
                "floe.machine": options.machine.slug,
                "floe.datasets": ",".join(m.source for m in self.dataset_mounts),
                GPU_LABEL: ",".join(self.gpu_ids),
            },
            env={
                **self.get_env(),
                "FLOE_ENVIRONMENT": options.environment.slug,
                "FLOE_MACHINE": options.machine.slug,
                # The mounts as specs, so Run as job can default to the same inputs.
                "FLOE_DATASETS": ",".join(f"{m.source}:{m.target}" for m in self.dataset_mounts),
                # Kernels' connection files in memory: a full home disk still starts kernels.
                "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
            },
            command=await self.get_command(),
            mounts=[
                *self._workspace_mounts(),
                # The deployer's DockerSpawner volumes and mounts, under the same checks.
                *mounts_from_binds(self.volume_binds),
                *mounts_from_docker(self.mount_binds),
            ],
            gpu_device_ids=self.gpu_ids,
            network=self.network_name,
            exposed_ports=(self.port,),
            extra_host_config=await self._deployer_extra("extra_host_config"),
            extra_create_kwargs=await self._deployer_extra("extra_create_kwargs"),
        )
