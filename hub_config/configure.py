"""``configure(c)``: Floe's whole hub configuration, applied to JupyterHub's config object."""

from __future__ import annotations

from floe.db.base import make_engine
from floe.db.migrations import upgrade_database

from .auth import configure_auth
from .hub import configure_hub
from .network import ensure_network
from .services import configure_services
from .settings import Settings, read_settings
from .workspaces import configure_workspaces


def configure(c: object) -> Settings:
    """Apply Floe's configuration to JupyterHub's config object ``c``."""
    settings = read_settings()
    # Floe's database is brought up to date here, before the floe service and the spawner
    # open it, so they never migrate it at the same moment.
    upgrade_database(make_engine(settings.floe_db_url))
    # Containers reach the hub API and the floe service on this network's gateway.
    gateway = ensure_network(settings.network_name)
    configure_hub(c, settings, gateway)
    configure_auth(c, settings)
    configure_workspaces(c, settings, gateway)
    configure_services(c, settings, gateway)
    return settings
