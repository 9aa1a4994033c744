"""A workspace's terminal driven as a person would: a command typed, its output read."""

from __future__ import annotations

import json
import time

import requests
import websocket


def ws_url(hub, username: str, path: str) -> str:
    return hub.user_url(username, path).replace("http://", "ws://")


def admin_auth(hub) -> dict[str, str]:
    return {"Authorization": f"token {hub.admin_token}"}


def read_terminal_until(ws, needle: str, timeout: float = 60) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kind, *payload = json.loads(ws.recv())
        if kind == "stdout":
            seen += payload[0]
            if needle in seen:
                return seen
    raise AssertionError(f"{needle!r} never appeared in the terminal; saw {seen!r}")


def run_in_terminal(hub, username: str, command: str, needle: str, timeout: float = 60) -> str:
    """Type ``command`` into a new terminal of ``username``'s workspace; what it printed up
    to ``needle``."""
    resp = requests.post(
        hub.user_url(username, "api/terminals"), headers=admin_auth(hub), timeout=60
    )
    assert resp.status_code == 200, resp.text
    name = resp.json()["name"]
    ws = websocket.create_connection(
        ws_url(hub, username, f"terminals/websocket/{name}"), header=admin_auth(hub), timeout=60
    )
    try:
        ws.send(json.dumps(["stdin", command + "\r"]))
        return read_terminal_until(ws, needle, timeout)
    finally:
        ws.close()
