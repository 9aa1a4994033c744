"""The hub itself: where it listens, where it keeps state, and its proxy."""

from __future__ import annotations

import logging

from .settings import Settings, secret_file


def configure_hub(c: object, settings: Settings, gateway: str) -> None:
    data = settings.data_dir
    c.JupyterHub.bind_url = f"http://127.0.0.1:{settings.port}"
    # The hub API listens on the workspace network's gateway: containers reach it there.
    c.JupyterHub.hub_bind_url = f"http://{gateway}:{settings.hub_api_port}"
    c.JupyterHub.db_url = settings.hub_db_url
    c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(data / "jupyterhub.pid")
    # Workspaces keep running while the hub restarts (it finds them again from its database).
    c.JupyterHub.cleanup_servers = False

    if not settings.proxy_command.exists():
        raise SystemExit(
            f"floe: configurable-http-proxy not found at {settings.proxy_command}; run `make tools`"
        )
    c.ConfigurableHTTPProxy.command = [str(settings.proxy_command)]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.auth_token = secret_file(data / "proxy_auth_token")[0]
    c.ConfigurableHTTPProxy.pid_file = str(data / "jupyterhub-proxy.pid")

    log_file = logging.FileHandler(data / "hub.log")
    log_file.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"))
    logging.getLogger("JupyterHub").addHandler(log_file)
