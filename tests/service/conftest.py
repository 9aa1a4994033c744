"""The fast tier: the floe service's tornado app in this process, on a real socket.

SQLite in a temporary file, a local blob store, the fake runner backend and the fake hub
token check; everything else (handlers, validation, access rules, the runner's queue and
states) is the production code. A request takes milliseconds.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets.config import Config

from containers.catalog import DEFAULT_ENVIRONMENTS, DEFAULT_MACHINES
from floe_service.app import ServiceParts, make_service
from floe_service.serving_state import ServingState
from jobs.runner import JobRunner
from tests.postgres import PostgresServer
from tests.service.fake_backend import FakeBackend
from tests.service.fake_builder import FakeBuilder
from tests.service.fake_hub import FakeHubAuth

PREFIX = "/services/floe/"
# The team the catalog's team-only entries are for: made in the fake hub by the tests that
# use them (test_catalog_teams), a member of it no other test's user.
LAB_TEAM = "catalog-lab"


def service_config(data: Path, database_url: str) -> Config:
    c = Config()
    c.FloeDatabase.url = database_url
    c.DatasetSettings.cache_dir = str(data / "cache")
    c.LocalStore.root = str(data / "blobs")
    c.JobRunner.instance = f"fast-{uuid.uuid4().hex[:6]}"
    c.JobRunner.jobs_dir = str(data / "jobs")
    c.JobRunner.backend_class = FakeBackend
    c.JobRunner.builder_class = FakeBuilder
    c.EnvironmentBuilder.lock_dir = str(data / "builds")
    c.EnvironmentBuilds.logs_dir = str(data / "environments")
    c.JobRunner.metrics_interval = 0.05
    c.JobLimits.max_metric_lines = 300
    c.JobLimits.max_running_per_user = 2
    c.JobLimits.max_queued_per_user = 5
    c.JobLimits.max_runtime_ceiling = 3600
    c.JobLimits.max_output_bytes = 1024**2
    c.JobLimits.max_log_bytes = 1024**2
    c.JobLimits.max_output_files = 200
    c.DatasetSettings.user_quota_bytes = 8 * 1024**2
    c.GpuSettings.inventory_class = "containers.gpu.StaticGpuInventory"
    c.StaticGpuInventory.devices = ["fake-gpu-0", "fake-gpu-1", "fake-gpu-2"]
    c.Catalog.machines = DEFAULT_MACHINES + [
        {"slug": "cpu-tiny", "display_name": "CPU tiny", "cpu": 0.5, "memory": "256Mi"},
        # For the members of one team only (test_catalog_teams); to anyone else, none.
        {
            "slug": "lab-box",
            "display_name": "Lab box",
            "cpu": 1,
            "memory": "512Mi",
            "teams": [LAB_TEAM],
        },
    ]
    c.Catalog.environments = DEFAULT_ENVIRONMENTS + [
        {"slug": "lab-env", "display_name": "Lab env", "image": "lab/env:1", "teams": [LAB_TEAM]}
    ]
    # Small caps, so the tests can reach them.
    c.RequestLimits.json_bytes = 1024**2
    c.RequestLimits.pack_bytes = 4 * 1024**2
    c.Serving.max_body_bytes = 64 * 1024
    c.Serving.figures_every_s = 0.2
    c.Serving.request_timeout = 3
    c.Schedules.check_every_s = 0.1
    c.Schedules.min_interval_s = 1
    # Teams read again often, so a member removed from a group is seen at once.
    c.TeamDirectory.refresh_seconds = 0.2
    c.TeamDirectory.min_refresh_seconds = 0
    return c


@dataclass
class Service:
    """The running service: its URL, the fake hub's users, the runner and the service's other
    parts, its tornado app."""

    url: str
    hub: FakeHubAuth
    runner: JobRunner
    parts: ServiceParts  # the runner, the schedules, builds, builder, limits, serving settings
    data: Path
    serving: ServingState  # what the serving proxy holds in memory
    app: web.Application

    def user(self, prefix: str = "user", *, admin: bool = False) -> tuple[str, str]:
        name = f"{prefix}{uuid.uuid4().hex[:5]}"
        return name, self.hub.add_user(name, admin=admin)

    def team(self, prefix: str, members: list[str], maintainers: list[str] = ()) -> str:
        """A new hub group of ``members``: a team."""
        name = f"{prefix}{uuid.uuid4().hex[:5]}"
        self.hub.add_group(name, members, maintainers)
        return name

    def api(self, method: str, path: str, token: str | None, **kwargs: object):
        headers = {"Authorization": f"token {token}"} if token else {}
        return requests.request(
            method, f"{self.url}{PREFIX}api/{path}", headers=headers, timeout=30, **kwargs
        )

    def page(self, path: str, token: str, **kwargs: object):
        headers = {"Authorization": f"token {token}"}
        return requests.get(
            f"{self.url}{PREFIX}{path}",
            headers=headers,
            timeout=30,
            allow_redirects=False,
            **kwargs,
        )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer | None):
    """SQLite in a file; with FLOE_TEST_DATABASE=postgresql, a database of the throwaway
    PostgreSQL server (`make test` runs this tier both ways)."""
    if postgres is not None:
        return postgres.database("floe")
    return f"sqlite:///{tmp_path_factory.mktemp('fast-db') / 'floe.sqlite'}"


@contextmanager
def running_service(data: Path, config: Config, node_token: str = "") -> Iterator[Service]:
    """The service of ``config`` in this process, on a port of 127.0.0.1, its parts started."""
    hub = FakeHubAuth()
    app, parts = make_service(
        prefix=PREFIX, cookie_secret="fast-tier", hub_auth=hub, node_token=node_token, config=config
    )
    parts.start()
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = HTTPServer(app)
        server.add_sockets(sockets)
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, name="fast-service", daemon=True).start()
    ready.wait(10)
    try:
        serving = app.settings["serving"]
        yield Service(f"http://127.0.0.1:{port}", hub, parts.runner, parts, data, serving, app)
    finally:
        parts.close()
        loop.call_soon_threadsafe(loop.stop)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, database_url: str):
    data = tmp_path_factory.mktemp("fast-service")
    with running_service(data, service_config(data, database_url)) as running:
        yield running
