"""Services the hub runs beside itself."""

from __future__ import annotations

import os
import sys

from floe.core.access import ADMIN_SCOPE

from .registry import registry_binary, registry_password, write_config
from .settings import Settings

FLOE_ADMIN_ROLE = "floe-admin"

# The hub's own secrets: no other process gets them.
HUB_ONLY = ("FLOE_ADMIN_PASSWORD",)


def _service_environment(settings: Settings) -> dict[str, str]:
    """What the floe service needs to find the same data: FLOE_* and AWS_* settings."""
    env = {
        k: v for k, v in os.environ.items() if k.startswith(("FLOE_", "AWS_")) and k not in HUB_ONLY
    }
    env["FLOE_DATA_DIR"] = str(settings.data_dir)
    env["FLOE_PORT"] = str(settings.port)
    return env


def floe_service_url(settings: Settings, gateway: str) -> str:
    """Where the floe service listens: the proxy routes /services/floe/ there, and
    workspaces (the Run as job button) reach it there directly."""
    return f"http://{gateway}:{settings.service_port}"


def configure_services(c: object, settings: Settings, gateway: str = "127.0.0.1") -> None:
    services: list[dict] = [
        {
            # Datasets and jobs: REST API and pages at /services/floe/.
            "name": "floe",
            "url": floe_service_url(settings, gateway),
            "command": [sys.executable, "-m", "floe_service"],
            "environment": _service_environment(settings),
            "oauth_no_confirm": True,
            "display": True,
            # A hub admin's login to the pages carries Floe's admin scope; nobody else's can.
            "oauth_client_allowed_scopes": [ADMIN_SCOPE],
        }
    ]
    roles: list[dict] = [
        # Every user may call the floe service; what they may do there it decides itself.
        {"name": "user", "scopes": ["self", "access:services!service=floe"]},
        # Floe admins see everyone's datasets and jobs through their own tokens and logins;
        # the tokens of their workspaces and jobs (server_token_scopes) do not carry the scope.
        # With Floe's own login its admin account is one (hub_config.configure.finish); more
        # are named in jupyterhub_config.local.py. Nobody is one by default with OAuth.
        {"name": FLOE_ADMIN_ROLE, "scopes": [ADMIN_SCOPE], "users": []},
        # The service reads when each user was made, so a name deleted and made again
        # starts with nothing of the earlier user's (floe/db/accounts.py). It reads the hub's
        # groups, which are Floe's teams, and sets a team's maintainers (a group property).
        {
            "name": "floe-service",
            "scopes": ["read:users", "list:groups", "read:groups", "groups"],
            "services": ["floe"],
        },
    ]
    if settings.registry:
        # Floe's image registry (FLOE_REGISTRY): every machine of a cluster pulls from it.
        config = write_config(
            settings.data_dir / "registry.yml",
            settings.data_dir / "registry",
            settings.registry_bind,
            registry_password(settings.data_dir),
        )
        # Its binary is looked up now: the hub refuses to start without it, naming the package.
        services.append({"name": "registry", "command": [registry_binary(), "serve", str(config)]})
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
    c.JupyterHub.custom_scopes = {
        ADMIN_SCOPE: {"description": "See and act on every user's datasets, jobs and outputs."}
    }
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
