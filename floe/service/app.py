"""The floe service: a tornado app JupyterHub runs at /services/floe/.

``python -m floe.service.app`` — started by the hub (see hub_config/services.py), which hands
it ``JUPYTERHUB_*`` variables for authentication and Floe's own settings through ``FLOE_*``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado import web
from traitlets.config import Application

from dataset_mounter.settings import DatasetSettings
from hub_config.settings import REPO_ROOT, read_settings, secret_file
from jobs.runner import JobRunner
from jobs.submit import JobContext
from spawner.catalog import Catalog

from . import datasets_api, job_pages, jobs_api, pages
from .openapi import OpenAPIHandler

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Chart.js, installed from npm by `make tools` (the job pages draw metric charts with it).
CHARTJS_DIR = REPO_ROOT / ".tools" / "node_modules" / "chart.js" / "dist"
UPLOAD_CHUNK_BYTES = 1024 * 1024


def make_app(
    datasets: DatasetSettings,
    catalog: Catalog,
    runner: JobRunner,
    prefix: str,
    cookie_secret: str,
) -> web.Application:
    api = url_path_join(prefix, "api/")
    handlers = [
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        (api + "openapi.json", OpenAPIHandler),
        *datasets_api.routes(api),
        *jobs_api.routes(api),
        *pages.routes(prefix),
        *job_pages.routes(prefix),
        (prefix + r"static/vendor/(.*)", web.StaticFileHandler, {"path": str(CHARTJS_DIR)}),
        (prefix + r"static/(.*)", web.StaticFileHandler, {"path": str(STATIC_DIR)}),
    ]
    return web.Application(
        handlers,
        datasets=datasets,
        catalog=catalog,
        runner=runner,
        # What submitting a job needs besides the request; the same for every request.
        job_context=JobContext(catalog, datasets, runner.gpus.total),
        service_prefix=prefix,
        cookie_secret=cookie_secret,
        # No tornado-wide check: HubAuth checks XSRF itself for cookie-authenticated
        # requests and skips it for API tokens, as JupyterHub's own servers do.
        xsrf_cookies=False,
        blob_stats={"received_bytes": 0, "received_blobs": 0},
    )


def main() -> None:
    settings = read_settings()
    config = settings.service_config()
    datasets = DatasetSettings(config=config)
    catalog = Catalog(config=config)
    runner = JobRunner(datasets.sessions, datasets, catalog, config=config)
    runner.start()
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/floe/")
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8003"))
    cookie_secret = secret_file(settings.data_dir / "floe_cookie_secret")[0]
    app = make_app(datasets, catalog, runner, prefix, cookie_secret)
    # Tests and operators find the service by this file (e.g. to restart it mid-job).
    (settings.data_dir / "floe-service.pid").write_text(f"{os.getpid()}\n")
    # Bodies are read a MiB at a time (tornado's default is 64 KiB): uploads of large blobs
    # then cost 16 times fewer trips through the event loop.
    app.listen(url.port, url.hostname, xheaders=True, chunk_size=UPLOAD_CHUNK_BYTES)
    Application.instance().log.info("floe service at %s%s", url.geturl(), prefix)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:  # the hub stops its services with SIGINT
        runner.close()


if __name__ == "__main__":
    main()
