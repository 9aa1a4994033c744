"""Where a Floe instance keeps its state and which ports it uses, read from the environment.

Everything has a default that works on one machine; tests and benchmarks start extra hubs
side by side by giving each its own ``FLOE_INSTANCE``, ``FLOE_PORT`` and ``FLOE_DATA_DIR``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from traitlets.config import Config

from floe.core.moved import moved_settings

# The source tree when Floe runs from one (`make run`); an installed Floe finds its tools and
# its data dir from the environment instead (FLOE_TOOLS_DIR, FLOE_DATA_DIR).
CHECKOUT = Path(__file__).resolve().parent.parent


def source_tree() -> Path | None:
    """The checkout this code runs from, or None when it is installed (site-packages)."""
    return CHECKOUT if (CHECKOUT / "Makefile").is_file() else None


def default_data_dir() -> Path:
    """``FLOE_DATA_DIR``, else ``.floe`` in the checkout, else ``~/.floe``."""
    tree = source_tree()
    fallback = tree / ".floe" if tree else Path.home() / ".floe"
    return Path(os.environ.get("FLOE_DATA_DIR") or fallback).resolve()


def tools_dir() -> Path:
    """Where `make tools` put configurable-http-proxy and Chart.js (npm's node_modules):
    ``FLOE_TOOLS_DIR``, else ``.tools`` in the checkout, else ``tools`` in the data dir."""
    if os.environ.get("FLOE_TOOLS_DIR"):
        return Path(os.environ["FLOE_TOOLS_DIR"]).resolve()
    tree = source_tree()
    return tree / ".tools" if tree else default_data_dir() / "tools"


# In the data dir: the secret nodes' volume plugins show the floe service (floe_service.nodes_api).
NODE_TOKEN_FILE = "node_token"


@dataclass(frozen=True)
class PublicAddress:
    """Where a team reaches Floe (``FLOE_PUBLIC_URL``), and how it proves who it is."""

    url: str  # https://floe.example.org (no path)
    bind_ip: str  # where the proxy listens: 0.0.0.0
    port: int  # 443
    redirect_port: int | None  # plain HTTP that redirects to HTTPS (80), None for none
    tls_cert: str = ""
    tls_key: str = ""
    acme_email: str = ""  # Let's Encrypt instead of a certificate file

    @property
    def https(self) -> bool:
        return self.url.startswith("https:")

    @property
    def bind(self) -> str:
        return f"{self.bind_ip}:{self.port}"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    instance: str
    port: int
    proxy_api_port: int
    hub_api_port: int
    service_port: int
    idle_timeout: int
    hub_db_url: str
    floe_db_url: str
    blob_store: str
    s3: dict[str, str]
    gpu_devices: list[str] | None
    firewall: bool = True
    egress: bool = True
    egress_allow: tuple[str, ...] = ()
    proxy: str = "traefik"
    public: PublicAddress | None = None
    registry: str = ""  # HOST:PORT of Floe's own image registry (hub_config.registry); "": none
    registry_bind: str = ""  # ADDR:PORT it listens on

    @property
    def proxy_command(self) -> Path:
        installed = tools_dir() / "node_modules" / ".bin" / "configurable-http-proxy"
        on_path = shutil.which("configurable-http-proxy")
        return installed if installed.exists() or not on_path else Path(on_path)

    @property
    def network_name(self) -> str:
        return f"{self.instance}-net"

    def floe_config(self) -> Config:
        """Floe's settings, the same in the hub (workspaces) and the floe service (API, jobs)."""
        c = Config()
        c.FloeDatabase.url = self.floe_db_url
        c.DatasetSettings.cache_dir = str(self.data_dir / "cache")
        if self.blob_store == "s3":
            c.DatasetSettings.blob_store_class = "dataset_mounter.stores.S3Store"
            c.S3Store.bucket = self.s3["bucket"]
            c.S3Store.prefix = self.s3["prefix"]
            c.S3Store.endpoint_url = self.s3["endpoint_url"]
        else:
            c.LocalStore.root = str(self.data_dir / "blobs")
        c.JobRunner.instance = self.instance
        c.JobRunner.jobs_dir = str(self.data_dir / "jobs")
        c.JobRunner.network = self.network_name
        # The hub (workspaces) and the floe service (jobs) build environments one key at a time.
        c.EnvironmentBuilder.lock_dir = str(self.data_dir / "builds")
        c.EnvironmentBuilder.network = self.network_name  # builds are fenced like jobs
        c.EnvironmentBuilds.logs_dir = str(self.data_dir / "environments")
        # The hub and the floe service both hand out GPUs; claims in flight meet here.
        c.GpuInventory.claims_file = str(self.data_dir / "gpu-claims.json")
        # Jobs and workspaces on a swarm push images to Floe's registry with its password.
        c.SwarmCluster.registry_password_file = str(self.data_dir / "registry_password")
        if self.gpu_devices is not None:
            # A fixed GPU list instead of asking nvidia-smi (tests use made-up ids).
            c.GpuSettings.inventory_class = "containers.gpu.StaticGpuInventory"
            c.StaticGpuInventory.devices = self.gpu_devices
        return c

    @property
    def local_config_file(self) -> Path:
        """The deployer's overrides (catalog, limits…), read by the hub and the floe service."""
        return self.data_dir / "jupyterhub_config.local.py"

    def service_config(self) -> Config:
        """The floe service's configuration: Floe's settings, then the deployer's file."""
        c = self.floe_config()
        if self.local_config_file.exists():
            from traitlets.config.loader import PyFileConfigLoader

            loader = PyFileConfigLoader(self.local_config_file.name, str(self.data_dir))
            c.merge(loader.load_config())
        return c


# Settings earlier Floes read, and what reads them now: never silently ignored.
RENAMED = {
    ("DatasetSettings", "db_url"): "c.FloeDatabase.url",
    ("JobRunner", "gpu_inventory_class"): "c.GpuSettings.inventory_class",
    ("WorkspaceSpawner", "gpu_inventory_class"): "c.GpuSettings.inventory_class",
    ("JobRunner", "max_running"): "c.JobLimits.max_running",
}


def renamed_settings(config: Config) -> list[str]:
    """A line for each setting in ``config`` that Floe has renamed, naming the new one, and
    each naming a class whose module moved."""
    return [
        f"c.{section}.{name} is now {new}"
        for (section, name), new in RENAMED.items()
        if section in config and name in config[section]
    ] + moved_settings(config)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"floe: {name}={raw!r} must be a whole number") from None


def _switch(name: str) -> bool:
    """An on/off setting, on unless it says off."""
    raw = os.environ.get(name, "on").lower()
    if raw not in ("on", "off"):
        raise SystemExit(f"floe: {name}={raw!r} must be 'on' or 'off'")
    return raw == "on"


def _networks(name: str) -> tuple[str, ...]:
    """A comma-separated list of address ranges (``10.1.2.0/24``), checked."""
    ranges = []
    for raw in os.environ.get(name, "").split(","):
        if raw.strip():
            try:
                ranges.append(str(ipaddress.IPv4Network(raw.strip())))
            except ValueError as err:
                raise SystemExit(f"floe: {name}: {raw.strip()!r} is no IPv4 range: {err}") from None
    return tuple(ranges)


def _blob_store() -> str:
    store = os.environ.get("FLOE_BLOB_STORE", "local")
    if store not in ("local", "s3"):
        raise SystemExit(f"floe: FLOE_BLOB_STORE={store!r} must be 'local' or 's3'")
    if store == "s3" and not os.environ.get("FLOE_S3_BUCKET"):
        raise SystemExit("floe: FLOE_BLOB_STORE=s3 needs FLOE_S3_BUCKET (and AWS credentials)")
    return store


def _registry() -> dict[str, str]:
    """``FLOE_REGISTRY`` (HOST:PORT every machine, this one too, pushes to and pulls from)
    and where it listens, ``FLOE_REGISTRY_BIND`` (default: that same address); checked."""
    registry = os.environ.get("FLOE_REGISTRY", "")
    if not registry:
        return {}
    host, _, port = registry.rpartition(":")
    if not host or not port.isdigit() or "/" in registry:
        raise SystemExit(f"floe: FLOE_REGISTRY={registry!r} must be HOST:PORT, e.g. 10.0.0.1:5000")
    bind = os.environ.get("FLOE_REGISTRY_BIND", registry)
    if not bind.rpartition(":")[2].isdigit():
        raise SystemExit(f"floe: FLOE_REGISTRY_BIND={bind!r} must be ADDR:PORT")
    return {"registry": registry, "registry_bind": bind}


def _proxy() -> str:
    proxy = os.environ.get("FLOE_PROXY", "traefik")
    if proxy not in ("traefik", "chp"):
        raise SystemExit(f"floe: FLOE_PROXY={proxy!r} must be 'traefik' or 'chp'")
    return proxy


def _public_address(proxy: str) -> PublicAddress | None:
    """``FLOE_PUBLIC_URL`` and its certificate, checked; None to serve on 127.0.0.1 only."""
    url = os.environ.get("FLOE_PUBLIC_URL", "").rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        raise SystemExit(
            f"floe: FLOE_PUBLIC_URL={url!r} must be http(s)://HOST[:PORT], with no path"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as err:
        raise SystemExit(f"floe: FLOE_PUBLIC_URL={url!r}: {err}") from None
    bind_ip = os.environ.get("FLOE_BIND_IP", "0.0.0.0")
    if parts.scheme == "http":
        return PublicAddress(url=url, bind_ip=bind_ip, port=port, redirect_port=None)
    if proxy != "traefik":
        raise SystemExit("floe: an https FLOE_PUBLIC_URL is served by traefik: FLOE_PROXY=traefik")
    cert = os.environ.get("FLOE_TLS_CERT", "")
    key = os.environ.get("FLOE_TLS_KEY", "")
    acme = os.environ.get("FLOE_ACME_EMAIL", "")
    if bool(cert) != bool(key):
        raise SystemExit("floe: FLOE_TLS_CERT and FLOE_TLS_KEY go together (both files)")
    if not cert and not acme:
        raise SystemExit(
            "floe: an https FLOE_PUBLIC_URL needs a certificate: FLOE_TLS_CERT and FLOE_TLS_KEY "
            "(files), or FLOE_ACME_EMAIL to have one from Let's Encrypt"
        )
    for name, path in (("FLOE_TLS_CERT", cert), ("FLOE_TLS_KEY", key)):
        if path and not os.access(path, os.R_OK):
            raise SystemExit(f"floe: {name}={path!r} is no file this user can read")
    redirect = _int("FLOE_HTTP_PORT", 80)
    return PublicAddress(
        url=url,
        bind_ip=bind_ip,
        port=port,
        redirect_port=redirect or None,
        tls_cert=str(Path(cert).resolve()) if cert else "",
        tls_key=str(Path(key).resolve()) if key else "",
        acme_email="" if cert else acme,
    )


def read_settings() -> Settings:
    data_dir = default_data_dir()
    # The databases, secrets, logs and blobs live here: only their owner may look inside,
    # whoever made the folder first (the Docker script writes its log here too).
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    port = _int("FLOE_PORT", 8000)
    gpus = os.environ.get("FLOE_GPU_DEVICES")
    return Settings(
        data_dir=data_dir,
        instance=os.environ.get("FLOE_INSTANCE", "floe"),
        port=port,
        proxy_api_port=_int("FLOE_PROXY_API_PORT", port + 1),
        hub_api_port=_int("FLOE_HUB_API_PORT", port + 2),
        service_port=_int("FLOE_SERVICE_PORT", port + 3),
        idle_timeout=_int("FLOE_IDLE_TIMEOUT", 3600),
        hub_db_url=os.environ.get("FLOE_HUB_DB_URL")
        or f"sqlite:///{data_dir / 'jupyterhub.sqlite'}",
        floe_db_url=os.environ.get("FLOE_DB_URL") or f"sqlite:///{data_dir / 'floe.sqlite'}",
        blob_store=_blob_store(),
        s3={
            "bucket": os.environ.get("FLOE_S3_BUCKET", ""),
            "prefix": os.environ.get("FLOE_S3_PREFIX", "floe/"),
            "endpoint_url": os.environ.get("FLOE_S3_ENDPOINT_URL", ""),
        },
        gpu_devices=None if gpus is None else [g for g in gpus.split(",") if g.strip()],
        firewall=_switch("FLOE_FIREWALL"),
        egress=_switch("FLOE_EGRESS"),
        egress_allow=_networks("FLOE_EGRESS_ALLOW"),
        proxy=(proxy := _proxy()),
        public=_public_address(proxy),
        **_registry(),
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
