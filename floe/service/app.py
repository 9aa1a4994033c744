"""The floe service: a tornado app JupyterHub runs at /services/floe/.

``python -m floe.service.app`` — started by the hub (see hub_config/services.py), which hands
it ``JUPYTERHUB_*`` variables for authentication and Floe's own settings through ``FLOE_*``.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado import web
from traitlets.config import Application

from dataset_mounter.settings import DatasetSettings
from hub_config.settings import read_settings, secret_file

from . import datasets_api, pages
from .openapi import OpenAPIHandler


def make_app(datasets: DatasetSettings, prefix: str, cookie_secret: str) -> web.Application:
    api = url_path_join(prefix, "api/")
    handlers = [
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        (api + "openapi.json", OpenAPIHandler),
        *datasets_api.routes(api),
        *pages.routes(prefix),
    ]
    return web.Application(
        handlers,
        datasets=datasets,
        service_prefix=prefix,
        cookie_secret=cookie_secret,
        # No tornado-wide check: HubAuth checks XSRF itself for cookie-authenticated
        # requests and skips it for API tokens, as JupyterHub's own servers do.
        xsrf_cookies=False,
        blob_stats={"received_bytes": 0, "received_blobs": 0},
    )


def main() -> None:
    settings = read_settings()
    config = settings.floe_config()
    datasets = DatasetSettings(config=config)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/floe/")
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8003"))
    cookie_secret = secret_file(settings.data_dir / "floe_cookie_secret")[0]
    app = make_app(datasets, prefix, cookie_secret)
    app.listen(url.port, url.hostname, xheaders=True)
    Application.instance().log.info("floe service at %s%s", url.geturl(), prefix)
    asyncio.get_event_loop().run_forever()


if __name__ == "__main__":
    main()
