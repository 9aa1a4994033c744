"""Floe's own image registry: an image built on this machine is pushed there and a second
machine (a second Docker engine in its own network namespace) pulls it and runs it."""

from __future__ import annotations

import secrets
import subprocess
import time

import docker
import pytest
import requests

from environments.image_registry import credentials, push
from hub_config.registry import registry_binary, write_config
from images.build import LOCAL_BASE
from tests.hub_process import free_port_block
from tests.second_engine import SecondEngine

pytestmark = pytest.mark.integration


def test_a_second_machine_pulls_and_runs_what_was_built_here(tmp_path):
    port = free_port_block(1)
    password = secrets.token_hex(32)
    # Every address: this engine pushes on 127.0.0.1, the node pulls across its veth.
    config = write_config(
        tmp_path / "registry.yml", tmp_path / "storage", f"0.0.0.0:{port}", password
    )
    registry = subprocess.Popen([registry_binary(), "serve", str(config)])
    node = SecondEngine(subnet=232)
    engine = docker.from_env()
    try:
        deadline = time.monotonic() + 30
        while True:
            assert registry.poll() is None, "the registry exited"
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the registry never answered"
            time.sleep(0.2)
        pushed = push(LOCAL_BASE, f"127.0.0.1:{port}", password)
        assert pushed.startswith(f"127.0.0.1:{port}/{LOCAL_BASE}@sha256:")  # by its digest
        catalog = f"http://127.0.0.1:{port}/v2/_catalog"
        # Nothing without the password: whoever could push could replace the workspace image.
        assert requests.get(catalog, timeout=10).status_code == 401
        assert requests.get(catalog, auth=("floe", "guess"), timeout=10).status_code == 401
        listed = requests.get(catalog, auth=("floe", password), timeout=10).json()
        assert listed["repositories"] == [LOCAL_BASE.split(":")[0]]

        node.start(insecure_registries=(f"{node.host_ip}:{port}",))
        name = f"{node.host_ip}:{port}/{LOCAL_BASE}"
        repository, tag = name.rsplit(":", 1)
        with pytest.raises(docker.errors.APIError, match="no basic auth credentials|unauthorized"):
            node.client.images.pull(repository, tag=tag)
        node.client.images.pull(repository, tag=tag, auth_config=credentials(password))
        out = node.client.containers.run(name, ["sh", "-c", "echo pulled"], remove=True)
        assert out == b"pulled\n"
        assert engine.images.get(LOCAL_BASE).id == node.client.images.get(name).id
    finally:
        try:
            node.stop()
        finally:
            registry.terminate()
            registry.wait(10)
        try:
            engine.images.remove(f"127.0.0.1:{port}/{LOCAL_BASE}")
        except docker.errors.ImageNotFound:
            pass
