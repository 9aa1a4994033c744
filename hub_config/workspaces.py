"""Workspaces: the spawner, its network, and the node's GPUs."""

from __future__ import annotations

from spawner.workspace_spawner import WorkspaceSpawner

from .services import floe_service_url
from .settings import Settings


def configure_workspaces(c: object, settings: Settings, gateway: str) -> None:
    c.JupyterHub.spawner_class = WorkspaceSpawner
    c.DockerSpawner.network_name = settings.network_name
    c.DockerSpawner.prefix = f"{settings.instance}-workspace"
    c.WorkspaceSpawner.home_volume_template = f"{settings.instance}-home-{{username}}"
    # Each user's home is a disk of c.HomeDisks.size_bytes, kept with the rest of the state.
    c.HomeDisks.root = str(settings.data_dir / "homes")
    c.merge(settings.floe_config())  # the database, where datasets live, the node's GPUs
    c.Spawner.default_url = "/lab"
    # The workspace's extension (Run as job, Save output) calls the floe service directly,
    # with the server's own token, which may therefore use that service.
    c.Spawner.environment = {"FLOE_SERVICE_URL": floe_service_url(settings, gateway)}
    c.Spawner.server_token_scopes = [
        "users:activity!user",
        "access:servers!server",
        "access:services!service=floe",
    ]
    # Two slow cores: a cold JupyterLab can take a while to answer.
    c.Spawner.start_timeout = 180
    c.Spawner.http_timeout = 120
    # Environments and machine types: c.Catalog.environments / c.Catalog.machines
    # (see containers/catalog.py for the defaults and their format).
