"""``floe login``, and who the saved login is: the one place the command line gets a client."""

from __future__ import annotations

import argparse

import requests

from floe.client.api import FloeClient, FloeError
from floe.client.login import load_login, save_login

from .verbs import verb


def logged_in() -> FloeClient:
    """A client with the saved login (``FLOE_URL`` and ``FLOE_TOKEN`` win over the file)."""
    login = load_login()
    return FloeClient(login.url, login.token)


def whoami(client: FloeClient) -> str:
    """The hub user the client's token belongs to."""
    try:
        resp = client.session.get(f"{client.url}/hub/api/user", timeout=30)
    except requests.ConnectionError:
        raise FloeError(f"could not reach Floe at {client.url}: is the hub running?") from None
    if resp.status_code != 200:
        raise FloeError(
            f"{client.url} did not accept the token ({resp.status_code}); make one at /hub/token",
            resp.status_code,
        )
    return resp.json()["name"]


def cmd_login(_client: None, args: argparse.Namespace) -> int:
    url = args.url or input("Floe URL (e.g. http://127.0.0.1:8000): ").strip()
    token = args.token or input(f"API token (make one at {url.rstrip('/')}/hub/token): ").strip()
    client = FloeClient(url, token)
    name = whoami(client)
    path = save_login(url, token)
    print(f"logged in to {client.url} as {name} (saved in {path})")
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    login = verb(verbs, "login", cmd_login, "remember the hub URL and your API token", client=False)
    login.add_argument("--url", help="the hub, e.g. http://127.0.0.1:8000")
    login.add_argument("--token", help="an API token from <hub>/hub/token")
