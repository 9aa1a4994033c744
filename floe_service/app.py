"""The floe service: a tornado app JupyterHub runs at /services/floe/, the job runner, and
what the service owns beside it (schedules, environment builds, serving: ``ServiceParts``).

``python -m floe_service`` — started by the hub (see hub_config/services.py), which hands it
``JUPYTERHUB_*`` variables for authentication and Floe's own settings through ``FLOE_*``;
the deployer's ``jupyterhub_config.local.py`` in the data dir is read too.
``python -m floe_service --help-all`` lists every setting.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from sqlalchemy.orm import sessionmaker
from tornado import web
from traitlets import Integer
from traitlets.config import Application
from traitlets.config.loader import Config, DeferredConfig

from containers.catalog import Catalog
from containers.gpu import GpuInventory, GpuSettings, NvidiaSmiGpuInventory, StaticGpuInventory
from dataset_mounter.collect import collect_unnamed
from dataset_mounter.settings import DatasetSettings
from dataset_mounter.stores import STORES
from environments.builder import EnvironmentBuilder
from environments.builds import EnvironmentBuilds
from floe.db.database import FloeDatabase
from hub_config.settings import (
    NODE_TOKEN_FILE,
    read_settings,
    renamed_settings,
    secret_file,
    tools_dir,
)
from jobs.backend import DockerBackend
from jobs.limits import JobLimits
from jobs.runner import JobRunner
from jobs.schedules import Schedules
from jobs.serving import Serving

from . import (
    blobs_api,
    datasets_api,
    environment_pages,
    environments_api,
    job_pages,
    jobs_api,
    nodes_api,
    pages,
    schedules_api,
    serving_api,
    serving_proxy,
    serving_state,
    shares_api,
    task_pages,
    tasks_api,
    team_pages,
    teams_api,
)
from .handlers import NotFoundHandler
from .limits import RequestLimits
from .openapi import OpenAPIHandler
from .team_directory import TeamDirectory

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Chart.js, installed from npm by `make tools` (the job pages draw metric charts with it).
CHARTJS_DIR = tools_dir() / "node_modules" / "chart.js" / "dist"
API_ROUTES = (
    *shares_api.ROUTES,  # before environments' /{owner}/{name}/{number}
    *teams_api.ROUTES,
    *datasets_api.ROUTES,
    *blobs_api.ROUTES,
    *jobs_api.ROUTES,
    *serving_api.ROUTES,
    *tasks_api.ROUTES,
    *schedules_api.ROUTES,
    *environments_api.ROUTES,
    *nodes_api.ROUTES,
)


@dataclass
class ServiceParts:
    """What the service runs beside its handlers, each made from the deployer's settings: the
    runner (jobs), and what the service owns itself, handed to the runner where it runs jobs
    (the limits, the builder of their images, the serving port)."""

    runner: JobRunner
    limits: JobLimits
    serving: Serving
    builder: EnvironmentBuilder
    builds: EnvironmentBuilds
    schedules: Schedules

    def start(self) -> None:
        # The builds first: the cache learns which images are published before any job
        # builds one (and a build may prune what is not).
        self.builds.resume()
        self.runner.start()
        self.schedules.start()

    def close(self) -> None:
        self.schedules.close()
        self.builds.close()
        self.runner.close()


def make_parts(
    sessions: sessionmaker, datasets: DatasetSettings, catalog: Catalog, **config: object
) -> ServiceParts:
    """The runner and the service's parts, each setting read from ``config`` (``parent=`` an
    application, or ``config=`` a traitlets Config) in the section it always had."""
    limits = JobLimits(**config)
    serving = Serving(**config)
    builder = _builder_class(config)(**config)
    runner = JobRunner(sessions, datasets, catalog, limits, builder, serving.port, **config)
    return ServiceParts(
        runner=runner,
        limits=limits,
        serving=serving,
        builder=builder,
        builds=EnvironmentBuilds(sessions, catalog, builder, **config),
        schedules=Schedules(sessions, runner.job_context, runner.wake, **config),
    )


def _builder_class(config: dict) -> type[EnvironmentBuilder]:
    """The class ``c.JobRunner.builder_class`` names: the service makes the builder, and the
    setting keeps the section deployers know."""
    parent = config.get("parent")
    found = config.get("config") or (parent.config if parent is not None else Config())
    trait = JobRunner.class_traits()["builder_class"]
    value = found.get("JobRunner", {}).get("builder_class", trait.default_value)
    if isinstance(value, DeferredConfig):  # from the command line
        value = value.get_value(trait)
    return trait.validate(None, value)  # a dotted name imported, the class checked


def make_app(
    *,
    limits: RequestLimits,
    sessions: sessionmaker,
    datasets: DatasetSettings,
    catalog: Catalog,
    parts: ServiceParts,
    prefix: str,
    cookie_secret: str,
    hub_auth: HubOAuth,
    teams: TeamDirectory,
    node_token: str = "",
) -> web.Application:
    """The service's tornado application: the REST API under ``<prefix>api/``, the pages."""
    api = url_path_join(prefix, "api/")
    handlers = [
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        (api + "openapi.json", OpenAPIHandler),
        *(route.tornado(api) for route in API_ROUTES),
        *pages.routes(prefix),
        *job_pages.routes(prefix),
        *task_pages.routes(prefix),
        *environment_pages.routes(prefix),
        *team_pages.routes(prefix),
        *serving_proxy.routes(prefix),
        (prefix + r"static/vendor/(.*)", web.StaticFileHandler, {"path": str(CHARTJS_DIR)}),
        (prefix + r"static/(.*)", web.StaticFileHandler, {"path": str(STATIC_DIR)}),
    ]
    return web.Application(
        handlers,
        default_handler_class=NotFoundHandler,
        hub_auth=hub_auth,
        teams=teams,  # the hub's groups, read every little while (team_directory)
        limits=limits,
        sessions=sessions,
        datasets=datasets,
        catalog=catalog,
        runner=parts.runner,
        job_limits=parts.limits,
        builder=parts.builder,
        builds=parts.builds,
        schedules=parts.schedules,
        serving=serving_state.ServingState(parts.serving),
        api_routes=API_ROUTES,
        # What submitting a job needs besides the request; the same for every request.
        job_context=parts.runner.job_context(),
        service_prefix=prefix,
        cookie_secret=cookie_secret,
        # No tornado-wide check: HubAuth checks XSRF itself for cookie-authenticated
        # requests and skips it for API tokens, as JupyterHub's own servers do.
        xsrf_cookies=False,
        blob_stats={"received_bytes": 0, "received_blobs": 0, "served_to_nodes": 0},
        node_token=node_token,  # what nodes' volume plugins send (nodes_api); "": none may
        accounts={},  # name -> (hub creation time, when last seen): see handlers.claim_account
        follows=Counter(),  # logs each user follows at once
        queueing=defaultdict(asyncio.Lock),  # one submit of a user's at a time
        spooling=Counter(),  # bytes each user's uploads in progress have spooled
    )


def make_service(
    *, prefix: str, cookie_secret: str, hub_auth: HubOAuth, node_token: str = "", **config: object
) -> tuple[web.Application, ServiceParts]:
    """The application and its (not yet started) parts, each setting read from ``config``
    (``parent=`` an application, or ``config=`` a traitlets Config)."""
    database = FloeDatabase(**config)
    datasets = DatasetSettings(**config)
    catalog = Catalog(**config)
    parts = make_parts(database.sessions, datasets, catalog, **config)
    app = make_app(
        limits=RequestLimits(**config),
        sessions=database.sessions,
        datasets=datasets,
        catalog=catalog,
        parts=parts,
        prefix=prefix,
        cookie_secret=cookie_secret,
        hub_auth=hub_auth,
        teams=TeamDirectory(hub_auth, **config),
        node_token=node_token,
    )
    return app, parts


class FloeService(Application):
    """Floe's REST API and pages, the job runner, schedules, environment builds and serving, as
    a JupyterHub managed service."""

    name = "floe-service"
    description = __doc__
    classes = [
        FloeDatabase,
        DatasetSettings,
        *STORES,
        Catalog,
        JobRunner,
        JobLimits,
        Serving,
        Schedules,
        EnvironmentBuilder,
        EnvironmentBuilds,
        DockerBackend,
        GpuSettings,
        GpuInventory,
        StaticGpuInventory,
        NvidiaSmiGpuInventory,
        RequestLimits,
        TeamDirectory,
    ]

    upload_chunk_bytes = Integer(
        1024 * 1024,
        config=True,
        help="""Bytes of a request body read at a time (tornado's default is 64 KiB): uploads of
        large blobs then cost fewer trips through the event loop.""",
    )

    collect_every_s = Integer(
        3600, config=True, help="Seconds between looks for blobs that were sent and never kept."
    )

    def initialize(self, argv: list[str] | None = None) -> None:
        self.parse_command_line(argv)  # --help-all answers here, before anything is touched
        from_command_line = self.config
        self.settings = read_settings()
        self.update_config(self.settings.service_config())
        self.update_config(from_command_line)
        renamed = renamed_settings(self.config)
        if renamed:
            raise SystemExit("floe service: refusing to start:\n  " + "\n  ".join(renamed))

    def start(self) -> None:
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/floe/")
        url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8003"))
        app, self.parts = make_service(
            prefix=prefix,
            cookie_secret=secret_file(self.settings.data_dir / "floe_cookie_secret")[0],
            hub_auth=HubOAuth.instance(),
            node_token=secret_file(self.settings.data_dir / NODE_TOKEN_FILE)[0],
            parent=self,
        )
        self.parts.start()
        threading.Thread(
            target=self.collect_forever, args=(self.parts.runner,), name="floe-collect", daemon=True
        ).start()
        # Tests and operators find the service by this file (e.g. to restart it mid-job).
        (self.settings.data_dir / "floe-service.pid").write_text(f"{os.getpid()}\n")
        app.listen(url.port, url.hostname, xheaders=True, chunk_size=self.upload_chunk_bytes)
        self.log.info("floe service at %s%s", url.geturl(), prefix)
        try:
            asyncio.get_event_loop().run_forever()
        except KeyboardInterrupt:  # the hub stops its services with SIGINT
            self.parts.close()

    def collect_forever(self, runner: JobRunner) -> None:
        """Remove blobs no tree names, once they are old enough (DatasetSettings)."""
        datasets = runner.datasets
        while datasets.collect_after_hours > 0:
            try:
                with runner.sessions() as db:
                    after = timedelta(hours=datasets.collect_after_hours)
                    count, size = collect_unnamed(db, datasets.store, after)
                if count:
                    self.log.info("removed %d blobs (%d bytes) nothing named", count, size)
            except Exception:
                self.log.exception("collecting unnamed blobs")
            time.sleep(self.collect_every_s)


def main() -> None:
    FloeService.launch_instance()


if __name__ == "__main__":
    main()
