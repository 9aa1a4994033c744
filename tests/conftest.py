"""Shared fixtures: one real hub for the whole test session, its admin token, fresh users."""

from __future__ import annotations

import io
import os
import secrets
import uuid
from pathlib import Path

import docker
import pytest

from containers.catalog import WORKSPACE_IMAGE
from tests.hub_process import REPO_ROOT, HubProcess
from tests.postgres import PostgresServer
from tests.s3_server import CREDENTIALS, S3Server
from tests.wheels import make_wheel

# The run's own end: nothing it started may be left (tests/leftover_check.py).
pytest_plugins = ["tests.leftover_check"]

ARTIFACTS = REPO_ROOT / "test-artifacts"
# One made-up GPU: the engine here has no GPU driver, which is exactly what the GPU tests need.
FAKE_GPUS = "fake-gpu-0"
# An environment whose server dies at once, to see what users are told when that happens.
BROKEN_IMAGE = "floe/test-broken:1"
# Small home disks, so that filling one is quick.
HOME_DISK_BYTES = 96 * 1024**2
LOCAL_CONFIG = f"""
c.HomeDisks.size_bytes = {HOME_DISK_BYTES}
# Schedules every few seconds, looked at every second, so a test sees them fire.
c.Schedules.min_interval_s = 2
c.Schedules.check_every_s = 1
from containers.catalog import DEFAULT_ENVIRONMENTS, DEFAULT_MACHINES
c.Catalog.environments = DEFAULT_ENVIRONMENTS + [
    {{"slug": "broken", "display_name": "Broken on purpose", "image": "{BROKEN_IMAGE}"}}
]
c.Catalog.machines = DEFAULT_MACHINES + [
    {{"slug": "cpu-tiny", "display_name": "CPU tiny", "cpu": 0.5, "memory": "256Mi"}}
]
"""


# An environment the catalog builds on first use: python plus a wheel made for this session.
BUILT_ENVIRONMENT = """
c.Catalog.environments = c.Catalog.environments + [
    {{"slug": "greet", "display_name": "Greet", "base": "python", "requirements": "{requirements}"}}
]
"""
GREETING = f"greetings {secrets.token_hex(4)}"


def write_built_environment(folder: Path) -> None:
    folder.mkdir()
    name, data = make_wheel("floegreeting", f"GREETING = {GREETING!r}\n")
    (folder / name).write_bytes(data)
    (folder / "req.txt").write_text(f"# the greet environment\n./{name}\n")


def build_broken_image() -> None:
    dockerfile = f'FROM {WORKSPACE_IMAGE}\nCMD ["sh", "-c", "echo broken-on-purpose >&2; exit 3"]\n'
    docker.from_env().images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=BROKEN_IMAGE, rm=True
    )


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory, monkeypatch_session):
    """A moto S3 server; boto3 in this process gets its credentials."""
    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log")
    server.start()
    for key, value in CREDENTIALS.items():
        monkeypatch_session.setenv(key, value)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def monkeypatch_session():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory, s3: S3Server):
    """The session's hub. Its blob store is S3 (moto), so every dataset test crosses it."""
    instance = f"floetest-{uuid.uuid4().hex[:6]}"
    hub = HubProcess(
        instance=instance,
        data_dir=tmp_path_factory.mktemp("floe-data"),
        admin_password=secrets.token_urlsafe(16),
        extra_env={
            "FLOE_GPU_DEVICES": FAKE_GPUS,
            "FLOE_BLOB_STORE": "s3",
            "FLOE_S3_BUCKET": s3.make_bucket(f"{instance}-blobs"),
            "FLOE_S3_ENDPOINT_URL": s3.url,
            **CREDENTIALS,
        },
    )
    build_broken_image()
    write_built_environment(hub.data_dir / "greet-env")
    hub.data_dir.joinpath("jupyterhub_config.local.py").write_text(
        LOCAL_CONFIG + BUILT_ENVIRONMENT.format(requirements=hub.data_dir / "greet-env" / "req.txt")
    )
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "hub.log").write_text(hub.log_tail(5000))
        hub.remove_docker_objects()


@pytest.fixture
def new_user(hub: HubProcess):
    """Create users through the REST API; stop and delete them afterwards."""
    made: list[str] = []

    def make(prefix: str = "user") -> str:
        name = f"{prefix}{uuid.uuid4().hex[:5]}"
        resp = hub.api("POST", f"/users/{name}")
        assert resp.status_code == 201, resp.text
        made.append(name)
        return name

    yield make
    for name in made:
        model = hub.api("GET", f"/users/{name}").json()
        if model.get("servers", {}).get(""):
            hub.stop_server(name)
        hub.api("DELETE", f"/users/{name}")


@pytest.fixture
def user_token(hub: HubProcess, new_user):
    """A new user and an API token of their own: ``name, token = user_token("alice")``."""

    def make(prefix: str = "user") -> tuple[str, str]:
        name = new_user(prefix)
        resp = hub.api("POST", f"/users/{name}/tokens", json={"note": "tests"})
        assert resp.status_code == 201, resp.text
        return name, resp.json()["token"]

    return make


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server when FLOE_TEST_DATABASE=postgresql, else None: `make
    test` runs the database-touching tests once on SQLite, once on PostgreSQL."""
    if os.environ.get("FLOE_TEST_DATABASE") != "postgresql":
        yield None
        return
    with PostgresServer() as server:
        yield server


@pytest.fixture
def fresh_db_url(tmp_path: Path, postgres: PostgresServer | None) -> str:
    """A new, empty database of the kind this run tests (SQLite, or PostgreSQL)."""
    if postgres is not None:
        return postgres.database(f"t{uuid.uuid4().hex[:10]}")
    return f"sqlite:///{tmp_path / 'floe.sqlite'}"
