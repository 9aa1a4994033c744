"""Where a Floe instance keeps its state and which ports it uses, read from the environment.

Everything has a default that works on one machine; tests and benchmarks start extra hubs
side by side by giving each its own ``FLOE_INSTANCE``, ``FLOE_PORT`` and ``FLOE_DATA_DIR``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    instance: str
    port: int
    proxy_api_port: int
    hub_api_port: int
    idle_timeout: int
    db_url: str
    gpu_devices: list[str] | None

    @property
    def proxy_command(self) -> Path:
        return REPO_ROOT / ".tools" / "node_modules" / ".bin" / "configurable-http-proxy"

    @property
    def network_name(self) -> str:
        return f"{self.instance}-net"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"floe: {name}={raw!r} must be a whole number") from None


def read_settings() -> Settings:
    data_dir = Path(os.environ.get("FLOE_DATA_DIR") or REPO_ROOT / ".floe").resolve()
    # The hub database and secrets live here: only their owner may look inside.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    port = _int("FLOE_PORT", 8000)
    gpus = os.environ.get("FLOE_GPU_DEVICES")
    return Settings(
        data_dir=data_dir,
        instance=os.environ.get("FLOE_INSTANCE", "floe"),
        port=port,
        proxy_api_port=_int("FLOE_PROXY_API_PORT", port + 1),
        hub_api_port=_int("FLOE_HUB_API_PORT", port + 2),
        idle_timeout=_int("FLOE_IDLE_TIMEOUT", 3600),
        db_url=os.environ.get("FLOE_DB_URL") or f"sqlite:///{data_dir / 'jupyterhub.sqlite'}",
        gpu_devices=None if gpus is None else [g for g in gpus.split(",") if g.strip()],
    )


def secret_file(path: Path, make: callable = lambda: secrets.token_hex(32)) -> tuple[str, bool]:
    """Read a secret kept in ``path`` (mode 0600), making it the first time.

    Returns the secret and whether it was just made.
    """
    if path.exists():
        return path.read_text().strip(), False
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value, True
