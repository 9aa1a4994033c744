"""Services the hub runs beside itself."""

from __future__ import annotations

import sys

from .settings import Settings


def configure_services(c: object, settings: Settings) -> None:
    services: list[dict] = []
    roles: list[dict] = []
    if settings.idle_timeout > 0:
        # Stops workspaces nobody has used for FLOE_IDLE_TIMEOUT seconds (0 turns it off).
        services.append(
            {
                "name": "idle-culler",
                "command": [
                    sys.executable,
                    "-m",
                    "hub_config.idle_culler",
                    f"--timeout={settings.idle_timeout}",
                ],
            }
        )
        roles.append(
            {
                "name": "idle-culler",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["idle-culler"],
            }
        )
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
