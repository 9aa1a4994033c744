"""The volume plugin's side of Docker's protocol, spoken over its unix socket as the engine
does: whatever arrives, the answer is JSON with ``Err`` (never a server error), and a
manifest that names a path outside the tree links nothing anywhere."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import threading
import zlib
from pathlib import Path

import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_unix_socket

from dataset_mounter.stores import LocalStore
from floe.client.api import FloeError
from floe_node.volume_driver import NodeVolumes, ProtocolHandler, TreeVolumes


class _Answer:
    def __init__(self, content: bytes) -> None:
        self.content = content


class _Service:
    """Stands in for the floe service's node API: answers one crafted manifest per digest."""

    def __init__(self, manifests: dict[str, bytes]) -> None:
        self.manifests = manifests

    def request(self, method: str, path: str) -> _Answer:
        digest = path.rsplit("/", 1)[1]
        if digest not in self.manifests:
            raise FloeError(f"no tree {digest}", 404)
        return _Answer(self.manifests[digest])


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


@pytest.fixture
def plugin(tmp_path: Path):
    """The protocol served on a socket, its trees from a stand-in service's manifests."""
    manifests: dict[str, bytes] = {}
    cache = tmp_path / "cache"
    cache.mkdir()
    trees = TreeVolumes(cache, _Service(manifests), LocalStore(root=str(tmp_path / "blobs")))
    volumes = NodeVolumes(trees)
    path = str(tmp_path / "floe.sock")
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = HTTPServer(web.Application([(r"/(.+)", ProtocolHandler, {"volumes": volumes})]))
        server.add_socket(bind_unix_socket(path))
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)

    def call(name: str, body: bytes | dict | None = None) -> tuple[int, dict]:
        conn = _UnixConnection(path)
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        conn.request("POST", f"/{name}", body=data)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())

    yield call, manifests, cache
    loop.call_soon_threadsafe(loop.stop)


def test_every_answer_is_json_with_err(plugin):
    call, _manifests, _cache = plugin
    assert call("Plugin.Activate") == (200, {"Implements": ["VolumeDriver"]})
    for name, body in (
        ("VolumeDriver.Create", b"{not json"),
        ("VolumeDriver.Create", b"[1, 2]"),
        ("VolumeDriver.Mount", {"Name": ["floe-tree-x"], "ID": 3}),
        ("VolumeDriver.Get", {"Name": "scratch"}),
        ("VolumeDriver.Mount", {"Name": "floe-tree-" + "a" * 64, "ID": "c1"}),
        ("VolumeDriver.Snapshot", {}),
    ):
        status, answer = call(name, body)
        assert status == 200 and answer["Err"], (name, body, answer)
    assert "no tree" in call("VolumeDriver.Mount", {"Name": "floe-tree-" + "a" * 64})[1]["Err"]
    assert call("VolumeDriver.List")[1] == {"Volumes": [], "Err": ""}


@pytest.mark.parametrize("path", ["../escaped", "/etc/escaped", "a/../../escaped"])
def test_a_manifest_naming_a_path_outside_the_tree_links_nothing(plugin, path):
    call, manifests, cache = plugin
    rows = [[path, "b" * 64, 1, 0o644]]
    encoded = zlib.compress(json.dumps(rows, separators=(",", ":")).encode())
    digest = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
    manifests[digest] = encoded
    status, answer = call("VolumeDriver.Mount", {"Name": f"floe-tree-{digest}", "ID": "c1"})
    assert status == 200 and "bad manifest" in answer["Err"], answer
    assert not list(cache.parent.rglob("escaped")) and not Path("/etc/escaped").exists()
    assert not (cache / "trees" / digest).exists()


def test_a_restarted_plugin_sweeps_what_a_stopped_build_left(tmp_path):
    cache = tmp_path / "cache"
    done = cache / "trees" / ("c" * 64)
    half = cache / "trees" / f".{'d' * 64}.0123abcd" / "deep"
    for folder in (done, half, cache / "spool"):
        folder.mkdir(parents=True)
    (done / "kept").write_text("a tree laid out whole stays")
    (half / "partial").write_text("x")
    (cache / "spool" / f"{'e' * 64}.tmp").write_text("a blob on its way")
    half.chmod(0o555)
    half.parent.chmod(0o555)
    TreeVolumes(cache, _Service({}), LocalStore(root=str(tmp_path / "blobs")))
    assert sorted(p.name for p in (cache / "trees").iterdir()) == ["c" * 64]
    assert (done / "kept").read_text() == "a tree laid out whole stays"
    assert not (cache / "spool").exists()
