"""Floe's Docker volume plugin on a node: a container mounts ``floe-tree-<digest>`` and reads
a dataset version the plugin laid out from the blob store (S3 here, the session hub's store)
or through the floe service; nothing a user holds reaches the node endpoints.

The node is a second Docker engine (``tests.second_engine``): an engine remembers every
volume plugin it has seen, and would wait on a stopped one at each volume lookup."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import docker
import pytest
import requests

from floe.client.api import FloeClient
from floe.client.transfer import upload_folder
from floe.trees.tree import Tree
from images.build import LOCAL_BASE
from tests.node_plugin import s3_config, start_plugin, stop_plugin
from tests.second_engine import SecondEngine


@pytest.fixture(scope="module")
def node():
    engine = SecondEngine()
    try:
        engine.start(images=(LOCAL_BASE,))
        yield engine
    finally:
        engine.stop()


def _dataset(client: FloeClient, owner: str, folder: Path) -> str:
    """A dataset version of ``folder``; its tree's digest (what a volume is named by)."""
    client.create_dataset("weights")
    upload_folder(client, f"{owner}/weights", folder, "v1")
    return Tree.from_manifest(client.version(f"{owner}/weights", 1)["files"]).digest


def _plugin(
    hub, node: SecondEngine, tmp_path: Path, config: str = ""
) -> tuple[subprocess.Popen, str, Path]:
    driver = f"floe{uuid.uuid4().hex[:6]}"
    cache = tmp_path / f"{driver}-cache"
    plugin = start_plugin(hub, node.plugins / f"{driver}.sock", cache, config)
    return plugin, driver, cache


def _served(hub) -> int:
    """Blobs the service has sent to nodes since it started."""
    resp = requests.get(
        f"{hub.url}/services/floe/api/blobs/stats",
        headers={"Authorization": f"token {hub.admin_token}"},
        timeout=30,
    )
    return resp.json()["served_to_nodes"]


def _read(node: SecondEngine, driver: str, volume: str, command: str) -> str:
    mount = docker.types.Mount(
        "/data", volume, read_only=True, driver_config=docker.types.DriverConfig(driver)
    )
    run = node.client.containers.run
    return run(LOCAL_BASE, ["sh", "-c", command], mounts=[mount], remove=True, user="1000").decode()


@pytest.fixture
def stop_after(node: SecondEngine):
    """Stop the plugins a test started; each must take its socket with it."""
    started: list[tuple[subprocess.Popen, str]] = []
    yield lambda plugin, driver: started.append((plugin, driver))
    for plugin, driver in started:
        stop_plugin(plugin, node.plugins / f"{driver}.sock")


def test_a_container_mounts_a_version_only_s3_holds(hub, node, user_token, tmp_path, stop_after):
    name, token = user_token("node")
    folder = tmp_path / "weights"
    (folder / "layers").mkdir(parents=True)
    (folder / "layers" / "w.bin").write_bytes(b"\x00\x01" * 50_000)
    (folder / "README").write_text("three layers\n")
    (folder / "run-id").write_text(uuid.uuid4().hex)
    (folder / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (folder / "run.sh").chmod(0o755)
    digest = _dataset(FloeClient(hub.url, token), name, folder)
    plugin, driver, cache = _plugin(hub, node, tmp_path, s3_config(hub))
    stop_after(plugin, driver)
    served_before = _served(hub)
    volume = f"floe-tree-{digest}"
    out = _read(
        node,
        driver,
        volume,
        "cat /data/README; /data/run.sh; wc -c < /data/layers/w.bin; "
        "touch /data/new 2>/dev/null && echo wrote || echo read-only",
    )
    assert out.split("\n")[:4] == ["three layers", "ran", "100000", "read-only"], out
    # From S3 into this node's cache, not through the service; laid out once, then shared.
    assert _served(hub) == served_before
    laid_out = cache / "trees" / digest
    assert (laid_out / "README").read_text() == "three layers\n"
    inode = (laid_out / "README").stat().st_ino
    assert _read(node, driver, volume, "cat /data/README") == "three layers\n"
    assert (laid_out / "README").stat().st_ino == inode


def test_through_the_service_and_what_is_refused(hub, node, user_token, tmp_path, stop_after):
    name, token = user_token("node")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "x.txt").write_text("by the service\n")
    # Docker ties a volume's name to one driver: each test's tree (and name) is its own.
    (folder / "run-id").write_text(uuid.uuid4().hex)
    digest = _dataset(FloeClient(hub.url, token), name, folder)
    plugin, driver, _cache = _plugin(hub, node, tmp_path)  # no store of its own: the service's
    stop_after(plugin, driver)
    served_before = _served(hub)
    assert _read(node, driver, f"floe-tree-{digest}", "cat /data/x.txt") == "by the service\n"
    assert _served(hub) == served_before + 2  # x.txt and run-id

    # A tree nobody made, a volume of another kind: the container does not start, and says why.
    with pytest.raises(docker.errors.APIError, match="no tree"):
        _read(node, driver, f"floe-tree-{uuid.uuid4().hex * 2}", "true")
    with pytest.raises(docker.errors.APIError, match="floe-tree-"):
        _read(node, driver, "scratch", "true")

    # The node endpoints take the node token only: a user's token reads no blob by its hash.
    sha = Tree.from_manifest(FloeClient(hub.url, token).version(f"{name}/weights", 1)["files"])
    blob = sha.find("x.txt").sha256
    api = f"{hub.url}/services/floe/api/nodes"
    for headers, status in (
        ({}, 401),
        ({"Authorization": f"token {token}"}, 403),
        ({"Authorization": f"token {hub.admin_token}"}, 403),
    ):
        for path in (f"blobs/{blob}", f"trees/{digest}"):
            resp = requests.get(f"{api}/{path}", headers=headers, timeout=30)
            assert resp.status_code == status, (path, resp.text)
    node = {"Authorization": f"token {(hub.data_dir / 'node_token').read_text().strip()}"}
    resp = requests.get(f"{api}/blobs/{blob}", headers=node, timeout=30)
    assert resp.status_code == 200 and resp.content == b"by the service\n"
    assert requests.get(f"{api}/blobs/{'f' * 64}", headers=node, timeout=30).status_code == 404
