"""Running the installed `floe` command as a user would, against the test hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLOE = Path(sys.executable).parent / "floe"
# Run as on a laptop with `pip install floe` alone: importing the platform's packages fails.
LAPTOP = Path(__file__).resolve().parent / "laptop"


def floe(hub, token, *args, cwd=None, home=None, env=None):
    """Run ``floe ARGS`` with only the command line's dependencies importable; ``token`` logs
    in through FLOE_URL/FLOE_TOKEN, ``home`` isolates the config and cache folders."""
    environ = {k: v for k, v in os.environ.items() if k not in ("FLOE_URL", "FLOE_TOKEN")}
    if token:
        environ.update(FLOE_URL=hub.url, FLOE_TOKEN=token)
    if home:
        environ["XDG_CACHE_HOME"] = str(home / "cache")
        environ["XDG_CONFIG_HOME"] = str(home / "config")
    environ["PYTHONPATH"] = str(LAPTOP)
    environ.update(env or {})
    return subprocess.run(
        [str(FLOE), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )


def floe_admin(hub, *args: str) -> subprocess.CompletedProcess:
    """``floe-admin ARGS`` with the hub's own settings (its data dir, databases, store)."""
    return subprocess.run(
        [sys.executable, "-m", "hub_config.admin", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env=hub.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
