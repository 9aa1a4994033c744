"""``floe-volume-plugin``: Floe's Docker volume plugin on a machine that runs containers.

It serves the engine's volume-driver protocol (``floe_node.volume_driver``) on
``/run/docker/plugins/<driver>.sock`` for the volumes Floe's containers mount there: trees
(``floe-tree-<digest>``, laid out in the node's cache), Floe's job runner files
(``floe-runner``) and each job's folder (``floe-job-…``, ``floe-output-…``, sent back to the
floe service as the job runs and once it ends: ``floe_node.job_volumes``).

``floe-volume-plugin --service-url URL --token-file FILE [--cache-dir DIR] [--socket PATH]``
(or ``-f`` a traitlets config file for the store's settings, e.g. ``c.S3Store.bucket``).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_unix_socket
from traitlets import Float, Type, Unicode
from traitlets.config import Application
from traitlets.config.loader import PyFileConfigLoader

from dataset_mounter.stores import STORES, BlobStore
from floe.client.api import FloeClient
from floe.core.moved import moved_settings
from floe_node.job_volumes import JobVolumes
from floe_node.volume_driver import NodeVolumes, ProtocolHandler, ServiceStore, TreeVolumes


class VolumePlugin(Application):
    """Serve Floe's volume driver to this node's Docker engine."""

    name = "floe-volume-plugin"
    description = __doc__

    socket = Unicode(
        "/run/docker/plugins/floe.sock",
        config=True,
        help="""The socket the engine calls; its name (without .sock) is the driver's name
        containers' volumes give, 'floe' by default.""",
    )
    service_url = Unicode(
        "", config=True, help="The hub's URL as this node reaches it, e.g. https://floe.example.org"
    )
    token_file = Unicode(
        "", config=True, help="File holding the node token (floe-admin node-token prints it)."
    )
    cache_dir = Unicode(
        "/var/lib/floe/node-cache",
        config=True,
        help="This node's cache: blobs fetched once, trees laid out once, shared by containers.",
    )
    ship_seconds = Float(
        1.0,
        config=True,
        help="How often what a running job's log gained is sent to the floe service, in seconds.",
    )
    blob_store_class = Type(
        ServiceStore,
        klass=BlobStore,
        config=True,
        help="""Where this node reads blobs: through the floe service (ServiceStore, the
        default), or from the store itself, e.g. dataset_mounter.stores.S3Store with the
        S3Store settings in the config file (faster: no trip through the hub).""",
    )

    aliases = {
        "socket": "VolumePlugin.socket",
        "service-url": "VolumePlugin.service_url",
        "token-file": "VolumePlugin.token_file",
        "cache-dir": "VolumePlugin.cache_dir",
        "f": "VolumePlugin.config_file",
    }
    config_file = Unicode("", config=True, help="A traitlets config file to load first.")
    classes = list(STORES)

    def initialize(self, argv: list[str] | None = None) -> None:
        self.parse_command_line(argv)
        if self.config_file:
            path = Path(self.config_file)
            # Read before it is applied: a class path that moved is named, not an ImportError.
            moved = moved_settings(PyFileConfigLoader(path.name, str(path.parent)).load_config())
            if moved:
                raise SystemExit("floe-volume-plugin: refusing to start:\n  " + "\n  ".join(moved))
            self.load_config_file(self.config_file)
            self.parse_command_line(argv)  # the command line wins

    def volumes(self) -> NodeVolumes:
        if not self.service_url or not self.token_file:
            raise SystemExit("floe-volume-plugin: --service-url and --token-file are needed")
        token = Path(self.token_file).read_text().strip()
        client = FloeClient(self.service_url, token)
        if self.blob_store_class is ServiceStore:
            store = ServiceStore(client, parent=self)
        else:
            store = self.blob_store_class(parent=self)
        cache = Path(self.cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        self.jobs = JobVolumes(cache / "jobs", client, self.ship_seconds)
        return NodeVolumes(TreeVolumes(cache, client, store), self.jobs)

    def start(self) -> None:
        volumes = self.volumes()
        app = web.Application([(r"/(.+)", ProtocolHandler, {"volumes": volumes})])
        Path(self.socket).parent.mkdir(parents=True, exist_ok=True)
        server = HTTPServer(app)
        server.add_socket(bind_unix_socket(self.socket, mode=0o600))
        self.log.info("floe volume plugin on %s, cache %s", self.socket, self.cache_dir)
        loop = asyncio.get_event_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, loop.stop)
        try:
            loop.run_forever()
        finally:
            self.jobs.close()
            # Gone with its socket: an engine whose plugins are listed on every `volume ls`
            # would otherwise keep calling a dead one, waiting on each call.
            Path(self.socket).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    os.umask(0o022)  # trees are read by containers' users
    VolumePlugin.launch_instance(argv)


if __name__ == "__main__":
    main()
