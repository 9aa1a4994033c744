"""Floe's volume plugin (``floe-volume-plugin``) started for a test node: a process of this
machine whose socket is in the node engine's own plugins folder (``tests.second_engine``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.s3_server import CREDENTIALS


def s3_config(hub) -> str:
    """Plugin settings reading blobs straight from the hub's S3 bucket."""
    return (
        "c.VolumePlugin.blob_store_class = 'dataset_mounter.stores.S3Store'\n"
        f"c.S3Store.bucket = {hub.env['FLOE_S3_BUCKET']!r}\n"
        f"c.S3Store.endpoint_url = {hub.env['FLOE_S3_ENDPOINT_URL']!r}\n"
    )


def start_plugin(hub, socket: Path, cache: Path, config: str = "") -> subprocess.Popen:
    """The plugin for ``hub``'s nodes, serving ``socket``; returns once the socket is there.
    Its log is ``<cache>.log``."""
    config_file = cache.with_suffix(".py")
    config_file.write_text(config)
    log_path = cache.with_suffix(".log")
    log = open(log_path, "wb")  # noqa: SIM115 - the child's
    plugin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "floe_node.volume_plugin",
            f"--socket={socket}",
            f"--service-url={hub.url}",
            f"--token-file={hub.data_dir / 'node_token'}",
            f"--cache-dir={cache}",
            f"-f={config_file}",
        ],
        env={**os.environ, **CREDENTIALS},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not socket.exists():
        assert plugin.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, "the plugin never made its socket"
        time.sleep(0.1)
    return plugin


def stop_plugin(plugin: subprocess.Popen, socket: Path) -> None:
    """Stop it (killed, and the test failed, if it is still there 10 s after SIGTERM); it
    must take its socket with it."""
    plugin.terminate()
    try:
        plugin.wait(10)
    except subprocess.TimeoutExpired:
        plugin.kill()
        plugin.wait()
        raise
    assert not socket.exists(), "the plugin left its socket"
