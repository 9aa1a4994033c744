"""Floe in the workspace: a Jupyter server extension (handlers under /floe/) and a JupyterLab
extension (the Run as job and Save output buttons, the Jobs panel).

The server extension, not the browser, talks to the floe service, with the user's own hub
token (``JUPYTERHUB_API_TOKEN``); the service decides what is allowed.
"""

from __future__ import annotations

from .handlers import setup_handlers


def _jupyter_labextension_paths() -> list[dict]:
    return [{"src": "labextension", "dest": "floe-jupyter"}]


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "floe_jupyter"}]


def _load_jupyter_server_extension(server_app: object) -> None:
    setup_handlers(server_app)
    server_app.log.info("floe: Run as job and Save output are on at %s", "/floe/")
