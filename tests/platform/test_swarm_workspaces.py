"""Workspaces on a two-node Docker swarm: a workspace placed on the second machine reads a
dataset version only S3 holds (laid out there by Floe's volume plugin), its terminal works
through the hub's proxy, and its home stays on that machine for the user's next workspace."""

from __future__ import annotations

import time

import pytest

from tests.hub_process import free_port_block
from tests.swarm_setup import (
    SWARM_WORKSPACES_CONFIG,
    swarm_hub,
    two_node_swarm,
    user_with_dataset,
)
from tests.terminal import run_in_terminal

pytestmark = pytest.mark.integration

REGISTRY_PORT = free_port_block(1)


@pytest.fixture(scope="module")
def swarm():
    with two_node_swarm(236, registry_port=REGISTRY_PORT, bridges=True) as engines:
        yield engines


@pytest.fixture(scope="module")
def hub(swarm, s3, tmp_path_factory):
    manager, worker = swarm
    config = SWARM_WORKSPACES_CONFIG.format(address=manager.host_ip)
    data = tmp_path_factory.mktemp("swarm-workspaces")
    with swarm_hub(manager, worker, s3, data, REGISTRY_PORT, config) as (running, caches):
        yield running, caches


def _service(manager, name: str) -> dict:
    (service,) = manager.client.api.services(filters={"name": name})
    return service


def _running_task(manager, service: dict) -> dict:
    tasks = manager.client.api.tasks(filters={"service": service["ID"]})
    return next(t for t in tasks if t["Status"]["State"] == "running")


def test_a_workspace_on_the_second_machine_reads_s3_data_and_keeps_its_home_there(
    hub, swarm, tmp_path
):
    running, caches = hub
    manager, worker = swarm
    files = {"n.txt": "notes only s3 holds\n"}
    name, _token, _client = user_with_dataset(running, "wanda", tmp_path / "notes", "notes", files)

    # The spawn page counts the swarm's GPUs (the worker advertises one), not this machine's.
    page = running.login_session("admin", running.admin_password).get(
        f"{running.url}/hub/spawn", timeout=60
    )
    assert "1 of 1 GPUs free." in page.text, page.text[-2000:]

    started = time.monotonic()
    resp = running.spawn(name, {"machine": "second-lab", "datasets": ["notes"]}, timeout=400)
    assert resp.status_code in (201, 202), resp.text
    print(f"spawn -> ready on the second machine: {time.monotonic() - started:.1f} s")
    service = _service(manager, f"{running.instance}-workspace-{name}")
    task = _running_task(manager, service)
    worker_id = worker.client.info()["Swarm"]["NodeID"]
    assert task["NodeID"] == worker_id
    spec = service["Spec"]["TaskTemplate"]
    assert spec["Placement"]["Constraints"] == ["node.role==worker"]
    assert spec["Resources"]["Reservations"] == {"NanoCPUs": 10**9, "MemoryBytes": 1024**3}
    assert spec["ContainerSpec"]["ReadOnly"] and spec["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
    mounts = {m["Target"]: m for m in spec["ContainerSpec"]["Mounts"]}
    assert mounts["/input/notes"]["Source"].startswith("floe-tree-")
    assert mounts["/input/notes"]["VolumeOptions"]["DriverConfig"]["Name"] == "floe"
    assert mounts["/input/notes"]["ReadOnly"] is True
    assert mounts["/home/jovyan"]["Source"].startswith(f"{running.instance}-workspace-home-{name}.")
    # The image came from Floe's registry, by digest; the dataset was laid out on the worker.
    assert spec["ContainerSpec"]["Image"].startswith(
        f"{manager.host_ip}:{REGISTRY_PORT}/floe/node-image:"
    )
    assert list((caches["second"] / "trees").iterdir())
    assert not (caches["first"] / "trees").exists() or not any(
        (caches["first"] / "trees").iterdir()
    )

    seen = run_in_terminal(
        running,
        name,
        "cat /input/notes/n.txt; echo kept > ~/work/k.txt; "
        "echo bashrc-$(ls -a ~ | grep -c '^[.]bashrc$'); "
        "touch /input/notes/x 2>&1 | grep -o 'Read-onl[y]'; echo done-$((6*7))",
        "done-42",
        timeout=120,
    )
    assert "notes only s3 holds" in seen and "Read-only" in seen
    assert "bashrc-1" in seen  # a new home starts with what the image's home holds

    running.stop_server(name)
    assert not manager.client.api.services(filters={"name": service["Spec"]["Name"]})
    # Homes here are not the capped disks of one machine: the deployer is told.
    assert "not capped at c.HomeDisks.size_bytes" in running.log_tail(5000)

    # A machine type that cannot run where the home is: refused at once, saying which can.
    refused = running.api("POST", f"/users/{name}/server", json={"machine": "first"})
    assert refused.status_code == 409, refused.text
    assert "cannot run" in refused.text and "Lab on the second machine" in refused.text
    running.wait_until(name, ready=False, timeout=60)

    # Next time, a machine type either node could run: on the home's node, as it was left.
    resp = running.spawn(name, {"machine": "cpu-small"}, timeout=400)
    assert resp.status_code in (201, 202), resp.text
    again = _service(manager, f"{running.instance}-workspace-{name}")
    assert _running_task(manager, again)["NodeID"] == worker_id
    assert f"node.id=={worker_id}" in again["Spec"]["TaskTemplate"]["Placement"]["Constraints"]
    seen = run_in_terminal(running, name, "cat ~/work/k.txt; echo end-$((6*7))", "end-42")
    assert "kept" in seen
    running.stop_server(name)
