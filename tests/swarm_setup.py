"""A two-node Docker swarm on this machine and a hub whose jobs run on it, for tests and
benchmarks: a manager and a worker, each a Docker engine of its own in a network namespace
joined by a veth pair (``tests.second_engine``); the worker advertises one fake GPU. The hub
has Floe's volume plugin on both nodes (driver ``floe``, blobs straight from S3)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from floe.client.api import FloeClient
from floe.client.transfer import upload_folder
from images.build import LOCAL_BASE
from swarm.placement import GPU_KIND
from swarm.workspaces import ADDRESS_LABEL
from tests.hub_process import HubProcess
from tests.node_plugin import s3_config, start_plugin, stop_plugin
from tests.s3_server import CREDENTIALS, S3Server
from tests.second_engine import SecondEngine

FAKE_GPU = "GPU-0f0e0d0c"

SWARM_HUB_CONFIG = """
from containers.catalog import DEFAULT_ENVIRONMENTS, DEFAULT_MACHINES
c.JobRunner.backend_class = "swarm.backend.SwarmBackend"
c.SwarmCluster.manager_url = "unix://{manager}"
c.SwarmCluster.volume_driver = "floe"
c.SwarmBackend.poll_seconds = 0.3
c.SwarmCluster.machine_constraints = {{
    "first": ["node.role==manager"],
    "second": ["node.role==worker"],
}}
c.Catalog.environments = DEFAULT_ENVIRONMENTS + [
    {{"slug": "plain", "display_name": "Plain", "image": "{image}"}}
]
c.Catalog.machines = DEFAULT_MACHINES + [
    {{"slug": "first", "display_name": "First machine", "cpu": 0.5, "memory": "256Mi"}},
    {{"slug": "second", "display_name": "Second machine", "cpu": 0.5, "memory": "256Mi"}},
    {{"slug": "gpu-small", "display_name": "GPU", "cpu": 0.5, "memory": "256Mi", "gpus": 1}},
]
"""


# Workspaces on the swarm too (``two_node_swarm(bridges=True)``), the "second-lab" machine
# type on the worker; ``address`` is where the nodes reach this machine.
SWARM_WORKSPACES_CONFIG = """
import os
c.JupyterHub.spawner_class = "floe-swarm"  # its entry point
# The nodes reach the hub's API on this machine's end of the manager's link.
_port = int(os.environ["FLOE_PORT"]) + 2
c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{{_port}}"
c.JupyterHub.hub_connect_url = f"http://{address}:{{_port}}"
c.SwarmWorkspaceSpawner.task_poll_seconds = 0.3
c.Catalog.machines = c.Catalog.machines + [
    {{"slug": "second-lab", "display_name": "Lab on the second machine", "cpu": 1,
      "memory": "1Gi"}},
]
c.SwarmCluster.machine_constraints = {{
    **c.SwarmCluster.machine_constraints, "second-lab": ["node.role==worker"]
}}
"""


@contextmanager
def two_node_swarm(
    first_subnet: int = 233,
    registry_port: int = 0,
    bridges: bool = False,
    images: tuple[str, ...] = (LOCAL_BASE,),
) -> Iterator[tuple[SecondEngine, SecondEngine]]:
    """(manager, worker); subnets ``first_subnet`` .. +2 are used. With ``registry_port``,
    both trust a registry at this machine's end of the manager's link (``registry_of``).
    With ``bridges``, each engine's containers have a bridge network with published ports
    (workspaces); each node's ``floe.address`` label is where this machine reaches it.
    ``images`` of this machine's engine are loaded into both."""
    manager, worker = SecondEngine(subnet=first_subnet), SecondEngine(subnet=first_subnet + 1)
    registries = (f"{manager.host_ip}:{registry_port}",) if registry_port else ()
    try:
        manager.start(
            images=images,
            insecure_registries=registries,
            bridge=f"172.31.{first_subnet - 200}.1/24" if bridges else "",
        )
        worker.start(
            images=images,
            insecure_registries=registries,
            extra_args=(f"--node-generic-resource {GPU_KIND}={FAKE_GPU}",),
            bridge=f"172.31.{first_subnet - 199}.1/24" if bridges else "",
        )
        worker.route_to_host(manager.host_ip)  # the registry's address, as both nodes name it
        here, there = manager.link(worker, first_subnet + 2)
        manager.client.swarm.init(advertise_addr=here, listen_addr=f"{here}:2377")
        token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
        worker.client.swarm.join(
            remote_addrs=[f"{here}:2377"],
            join_token=token,
            advertise_addr=there,
            listen_addr=f"{there}:2377",
        )
        for engine in (manager, worker):
            node = manager.client.nodes.get(engine.client.info()["Swarm"]["NodeID"])
            spec = node.attrs["Spec"]
            node.update(
                {**spec, "Labels": {**spec.get("Labels", {}), ADDRESS_LABEL: engine.node_ip}}
            )
        yield manager, worker
    finally:
        try:
            worker.stop()
        finally:
            manager.stop()


def _has_driver(node: dict, driver: str) -> bool:
    plugins = node.get("Description", {}).get("Engine", {}).get("Plugins") or []
    return {"Type": "Volume", "Name": driver} in plugins


@contextmanager
def swarm_hub(
    manager: SecondEngine,
    worker: SecondEngine,
    s3: S3Server,
    data_dir: Path,
    registry_port: int = 0,
    config: str = "",
) -> Iterator[tuple[HubProcess, dict[str, Path]]]:
    """A started hub whose jobs run on the swarm, and the plugin on both nodes: (hub, each
    node's plugin cache by machine type, 'first' and 'second'). With ``registry_port`` (as
    given to ``two_node_swarm``) the hub runs Floe's registry there and every job's image is
    pushed to it (this machine pushes on 127.0.0.1); ``config`` is added to its config."""
    instance = f"floeswarm-{uuid.uuid4().hex[:6]}"
    env = {
        "FLOE_BLOB_STORE": "s3",
        "FLOE_S3_BUCKET": s3.make_bucket(f"{instance}-blobs"),
        "FLOE_S3_ENDPOINT_URL": s3.url,
        **CREDENTIALS,
    }
    if registry_port:
        env["FLOE_REGISTRY"] = f"{manager.host_ip}:{registry_port}"
        env["FLOE_REGISTRY_BIND"] = f"0.0.0.0:{registry_port}"  # nodes and 127.0.0.1 alike
        config += f"\nc.SwarmCluster.push_registry = '127.0.0.1:{registry_port}'\n"
    hub = HubProcess(
        instance=instance,
        data_dir=data_dir,
        admin_password=secrets.token_urlsafe(16),
        extra_env=env,
    )
    hub.swarm_manager = manager  # for what a failing test says
    hub.data_dir.mkdir(parents=True, exist_ok=True)
    hub.data_dir.joinpath("jupyterhub_config.local.py").write_text(
        SWARM_HUB_CONFIG.format(manager=manager.socket, image=LOCAL_BASE) + config
    )
    plugins = []
    try:
        hub.start()
        caches = {}
        for role, engine in (("first", manager), ("second", worker)):
            cache = hub.data_dir.parent / f"{instance}-{role}-node-cache"
            socket = engine.plugins / "floe.sock"
            plugins.append((start_plugin(hub, socket, cache, s3_config(hub)), socket))
            caches[role] = cache
            # Listing volumes makes the engine find the new driver; it then tells the swarm,
            # which places jobs mounting its volumes only on nodes that have it.
            engine.client.api.volumes()
        deadline = time.monotonic() + 60
        while not all(_has_driver(node, "floe") for node in manager.client.api.nodes()):
            if time.monotonic() > deadline:
                raise TimeoutError("the swarm never saw the plugin on both nodes")
            time.sleep(0.5)
        yield hub, caches
    finally:
        try:
            for plugin, socket in plugins:
                stop_plugin(plugin, socket)
        finally:  # a plugin that failed to stop is ended with the hub: it names its data dir
            hub.stop()
            hub.remove_docker_objects()


def user_with_dataset(
    hub: HubProcess, prefix: str, folder: Path, dataset: str, files: dict[str, str]
) -> tuple[str, str, FloeClient]:
    """A new user (name, token, client) whose dataset ``dataset`` has one version of
    ``files`` (name: text), uploaded from ``folder``: its blobs are in the hub's blob store
    (S3) only."""
    name = f"{prefix}{uuid.uuid4().hex[:5]}"
    assert hub.api("POST", f"/users/{name}").status_code == 201
    token = hub.api("POST", f"/users/{name}/tokens", json={"note": "swarm"}).json()["token"]
    client = FloeClient(hub.url, token)
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text)
    client.create_dataset(dataset)
    upload_folder(client, f"{name}/{dataset}", folder, "v1")
    return name, token, client
