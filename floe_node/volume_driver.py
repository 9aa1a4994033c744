"""Floe's Docker volume plugin, the protocol and its trees: each node lays out the trees its
containers mount.

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

The command that serves it on a node is ``floe_node.volume_plugin`` (``floe-volume-plugin``);
it adds the volumes of the jobs running there (``floe_node.job_volumes``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tornado import web
from tornado.log import app_log

from dataset_mounter.materialize import make_writable, materialize, tree_dir
from dataset_mounter.node_volumes import NAMING, TREE_VOLUME
from dataset_mounter.stores import BlobStore
from floe.client.api import FloeClient, FloeError
from floe.core.errors import BadTree
from floe.trees.tree import Tree


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
            name: set() for name in self._read_known() if TREE_VOLUME.fullmatch(name)
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
    def owns(name: str) -> bool:
        return TREE_VOLUME.fullmatch(name) is not None

    @staticmethod
    def digest(name: str) -> str:
        found = TREE_VOLUME.fullmatch(name or "")
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


class NodeVolumes:
    """Every kind of volume the plugin serves, each call handed to the kind that owns the
    name (``owns``): trees here, a node's job folders in ``floe_node.job_volumes``."""

    def __init__(self, *kinds: Any) -> None:
        self.kinds = kinds

    def _kind(self, name: str) -> Any:
        for kind in self.kinds:
            if kind.owns(name):
                return kind
        raise PluginError(f"no volume {name!r}: {NAMING}")

    @property
    def known(self) -> list[str]:
        return sorted(name for kind in self.kinds for name in kind.known)

    def create(self, name: str) -> None:
        self._kind(name).create(name)

    def remove(self, name: str) -> None:
        self._kind(name).remove(name)

    def mount(self, name: str, mount_id: str) -> str:
        return self._kind(name).mount(name, mount_id)

    def unmount(self, name: str, mount_id: str) -> None:
        self._kind(name).unmount(name, mount_id)

    def path(self, name: str) -> str:
        return self._kind(name).path(name)

    def check_known(self, name: str) -> None:
        self._kind(name)  # a name of no kind: say how they are named
        if name not in self.known:
            raise PluginError(f"no volume {name}")


class PluginError(Exception):
    """An answer's ``Err``: what went wrong, for the engine to tell whoever started the
    container."""


class ProtocolHandler(web.RequestHandler):
    """One POST per call of Docker's volume-driver protocol; ``Err`` carries failures."""

    def initialize(self, volumes: NodeVolumes) -> None:
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
            volumes.check_known(name)
            return {"Volume": {"Name": name, "Mountpoint": volumes.path(name)}, "Err": ""}
        if call == "VolumeDriver.List":
            listed = [{"Name": n, "Mountpoint": volumes.path(n)} for n in sorted(volumes.known)]
            return {"Volumes": listed, "Err": ""}
        raise PluginError(f"{call} is not part of the volume-driver protocol")
