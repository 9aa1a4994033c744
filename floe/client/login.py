"""Where the CLI keeps the hub URL and token: ``~/.config/floe/config.json`` (mode 0600).

``FLOE_URL`` and ``FLOE_TOKEN`` in the environment win over the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class NotLoggedIn(Exception):
    pass


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "floe" / "config.json"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "floe"


@dataclass(frozen=True)
class Login:
    url: str
    token: str


def save_login(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url.rstrip("/"), "token": token}, f)
    os.chmod(path, 0o600)
    return path


def load_login() -> Login:
    saved: dict = {}
    path = config_path()
    if path.exists():
        saved = json.loads(path.read_text())
    url = os.environ.get("FLOE_URL") or saved.get("url")
    token = os.environ.get("FLOE_TOKEN") or saved.get("token")
    if not url or not token:
        raise NotLoggedIn(
            "not logged in: run `floe login --url http://127.0.0.1:8000 --token TOKEN` "
            "(make a token at <hub URL>/hub/token) or set FLOE_URL and FLOE_TOKEN"
        )
    return Login(url=url.rstrip("/"), token=token)
