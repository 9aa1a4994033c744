"""Floe's Docker volume plugin: each node lays out the trees its containers mount.

When Docker (or Swarm, on whichever node it placed a task) starts a container with a volume
``floe-tree-<digest>`` of driver ``floe``, the engine asks this plugin to mount it. The plugin
fetches the tree's manifest from the floe service (with the node token; it checks the
manifest hashes to the digest it asked for), lays the tree out in this node's cache
(``materialize``: read-only hard links to one copy of each blob) and answers that folder.
Blobs come from the blob store itself when this node is set up to read it (S3), otherwise
through the service. Every later container on this node mounting the same tree shares the
folder; nothing is fetched twice.

Docker finds the plugin by its socket, ``/run/docker/plugins/<driver>.sock``, and speaks
its volume-driver protocol: JSON POSTed to ``/Plugin.Activate`` and ``/VolumeDriver.*``,
every answer JSON with ``Err`` set when something went wrong.

``floe-volume-plugin --service-url URL --token-file FILE [--cache-dir DIR] [--socket PATH]``
(or ``-f`` a traitlets config file for the store's settings, e.g. ``c.S3Store.bucket``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.log import app_log
from tornado.netutil import bind_unix_socket
from traitlets import Type, Unicode
from traitlets.config import Application

from floe.client.api import FloeClient, FloeError
from floe.core.errors import BadTree

from .materialize import make_writable, materialize, tree_dir
from .stores import BlobStore, LocalStore, S3Store
from .tree import Tree

VOLUME = re.compile(r"floe-tree-([0-9a-f]{64})")
NAMING = "Floe's volumes are named floe-tree-<the tree's sha256 digest>"


class ServiceStore(BlobStore):
    """Blobs read through the floe service (a node that cannot reach the store itself)."""

    def __init__(self, client: FloeClient | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.client = client

    def fetch_to(self, sha256: str, dest: Path) -> None:
        self.client.download_file(f"nodes/blobs/{sha256}", dest, sha256)


class TreeVolumes:
    """The plugin's state: which volumes the engine made, which containers mount them."""

    def __init__(self, cache_dir: Path, client: FloeClient, store: BlobStore) -> None:
        self.cache_dir, self.client, self.store = cache_dir, client, store
        self.known_file = cache_dir / "volumes.json"
        self.known: dict[str, set[str]] = {
            name: set() for name in self._read_known() if VOLUME.fullmatch(name)
        }
        self.lock = threading.Lock()
        self.laying_out: dict[str, threading.Lock] = {}
        self._sweep()

    def _sweep(self) -> None:
        """Remove what a plugin stopped mid-build left: half-laid-out trees (hidden folders
        beside the trees) and fetched blobs not yet kept. Only at start: nothing builds yet."""
        for building in (self.cache_dir / "trees").glob(".*"):
            make_writable(building)
            shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(self.cache_dir / "spool", ignore_errors=True)

    def _read_known(self) -> list[str]:
        try:
            names = json.loads(self.known_file.read_text())
        except (OSError, ValueError):
            return []
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def _save_known(self) -> None:
        tmp = self.known_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self.known)))
        tmp.replace(self.known_file)

    @staticmethod
    def digest(name: str) -> str:
        found = VOLUME.fullmatch(name or "")
        if not found:
            raise PluginError(f"no volume {name!r}: {NAMING}")
        return found.group(1)

    def create(self, name: str) -> None:
        self.digest(name)
        with self.lock:
            self.known.setdefault(name, set())
            self._save_known()

    def remove(self, name: str) -> None:
        with self.lock:
            if self.known.get(name):
                users = len(self.known[name])
                raise PluginError(f"{name} is still mounted by {users} container(s)")
            self.known.pop(name, None)
            self._save_known()

    def path(self, name: str) -> str:
        folder = tree_dir(self.cache_dir, self.digest(name))
        return str(folder) if folder.is_dir() else ""

    def mount(self, name: str, mount_id: str) -> str:
        """Lay the tree out on this node (once) and count ``mount_id`` as using it."""
        digest = self.digest(name)
        with self.lock:
            building = self.laying_out.setdefault(digest, threading.Lock())
        with building:  # two containers mounting one new tree: it is laid out once
            folder = tree_dir(self.cache_dir, digest)
            if not folder.is_dir():
                folder = materialize(self._tree(digest), self.store, self.cache_dir)
        with self.lock:
            # Whoever comes next finds the tree laid out; a waiter on this lock still has it.
            self.laying_out.pop(digest, None)
        with self.lock:
            self.known.setdefault(name, set()).add(mount_id)
            self._save_known()
        return str(folder)

    def unmount(self, name: str, mount_id: str) -> None:
        with self.lock:
            self.known.get(name, set()).discard(mount_id)

    def _tree(self, digest: str) -> Tree:
        try:
            encoded = self.client.request("GET", f"nodes/trees/{digest}").content
        except FloeError as err:
            raise PluginError(f"tree {digest}: {err}") from None
        try:
            # Every path checked again (no '..', nothing absolute) before anything is linked.
            tree = Tree.from_entries(list(Tree.decode(encoded).entries))
        except BadTree as err:
            raise PluginError(
                f"tree {digest}: the floe service sent a bad manifest: {err}"
            ) from None
        except (ValueError, TypeError, zlib.error):
            raise PluginError(f"tree {digest}: the floe service sent no manifest") from None
        if tree.digest != digest:
            raise PluginError(f"tree {digest}: the floe service sent a different tree")
        return tree


class PluginError(Exception):
    """An answer's ``Err``: what went wrong, for the engine to tell whoever started the
    container."""


class ProtocolHandler(web.RequestHandler):
    """One POST per call of Docker's volume-driver protocol; ``Err`` carries failures."""

    def initialize(self, volumes: TreeVolumes) -> None:
        self.volumes = volumes

    def check_xsrf_cookie(self) -> None:
        return None  # a unix socket only root reaches; no browser ever calls it

    async def post(self, call: str) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
            if not isinstance(body, dict):
                raise PluginError("the request must be a JSON object")
            answer = await self._answer(call, body)
        except PluginError as err:
            answer = {"Err": str(err)}
        except Exception as err:  # noqa: BLE001 - the engine reads Err, never a 500
            app_log.exception("%s %s", call, self.request.body[:200])
            answer = {"Err": f"{call}: {err}"}
        self.set_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
        self.finish(json.dumps(answer))

    async def _answer(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        volumes, name = self.volumes, str(body.get("Name", ""))

        def off_loop(work: Callable, *args: Any) -> Any:
            return asyncio.get_running_loop().run_in_executor(None, work, *args)

        if call == "Plugin.Activate":
            return {"Implements": ["VolumeDriver"]}
        if call == "VolumeDriver.Capabilities":
            return {"Capabilities": {"Scope": "local"}}
        if call == "VolumeDriver.Create":
            volumes.create(name)
            return {"Err": ""}
        if call == "VolumeDriver.Remove":
            volumes.remove(name)
            return {"Err": ""}
        if call == "VolumeDriver.Mount":
            mountpoint = await off_loop(volumes.mount, name, str(body.get("ID", "")))
            return {"Mountpoint": mountpoint, "Err": ""}
        if call == "VolumeDriver.Unmount":
            volumes.unmount(name, str(body.get("ID", "")))
            return {"Err": ""}
        if call == "VolumeDriver.Path":
            return {"Mountpoint": volumes.path(name), "Err": ""}
        if call == "VolumeDriver.Get":
            if name not in volumes.known:
                volumes.digest(name)  # a name of another kind: say how they are named
                raise PluginError(f"no volume {name}")
            return {"Volume": {"Name": name, "Mountpoint": volumes.path(name)}, "Err": ""}
        if call == "VolumeDriver.List":
            listed = [{"Name": n, "Mountpoint": volumes.path(n)} for n in sorted(volumes.known)]
            return {"Volumes": listed, "Err": ""}
        raise PluginError(f"{call} is not part of the volume-driver protocol")


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
    classes = [LocalStore, S3Store]

    def initialize(self, argv: list[str] | None = None) -> None:
        self.parse_command_line(argv)
        if self.config_file:
            self.load_config_file(self.config_file)
            self.parse_command_line(argv)  # the command line wins

    def volumes(self) -> TreeVolumes:
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
        return TreeVolumes(cache, client, store)

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
            # Gone with its socket: an engine whose plugins are listed on every `volume ls`
            # would otherwise keep calling a dead one, waiting on each call.
            Path(self.socket).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    os.umask(0o022)  # trees are read by containers' users
    VolumePlugin.launch_instance(argv)


if __name__ == "__main__":
    main()
