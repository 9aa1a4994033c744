"""The container spec shared by workspaces and jobs: limits, GPUs, labels, hardening."""

import docker
import pytest

from containers.catalog import Catalog
from containers.spec import Mount, UnsafeMount, build_container_spec


def _catalog_entries():
    catalog = Catalog()
    machines = {m.slug: m for m in catalog.machine_list()}
    return catalog.default_environment(), machines


def _kwargs(spec):
    return spec.create_kwargs(
        docker.APIClient(base_url="unix://var/run/docker.sock", version="1.41")
    )


def test_cpu_workspace_spec_is_limited_and_hardened():
    environment, machines = _catalog_entries()
    spec = build_container_spec(
        name="floe-workspace-alice",
        environment=environment,
        machine=machines["cpu-small"],
        labels={"floe.kind": "workspace", "floe.user": "alice"},
        env={"JUPYTERHUB_USER": "alice"},
        mounts=[Mount(source="floe-home-alice", target="/home/jovyan/work")],
        network="floe-net",
        exposed_ports=(8888,),
    )
    kwargs = _kwargs(spec)
    host = kwargs["host_config"]
    assert kwargs["image"] == environment.image
    assert kwargs["user"] == "1000:100"
    assert kwargs["labels"] == {"floe.kind": "workspace", "floe.user": "alice"}
    assert kwargs["ports"] == ["8888/tcp"]
    assert host["Memory"] == 2 * 1024**3
    assert host["MemorySwap"] == 2 * 1024**3
    assert (host["CpuQuota"], host["CpuPeriod"]) == (100_000, 100_000)
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] > 0
    assert host["NetworkMode"] == "floe-net"
    assert "DeviceRequests" not in host
    # The image is read-only; /tmp is memory, bounded by (and charged to) the memory limit.
    assert host["ReadonlyRootfs"] is True
    assert host["Tmpfs"] == {"/tmp": f"rw,exec,nosuid,nodev,size={2 * 1024**3},mode=1777"}
    assert host["Mounts"] == [
        {
            "Target": "/home/jovyan/work",
            "Source": "floe-home-alice",
            "Type": "volume",
            "ReadOnly": False,
        }
    ]


def test_gpu_machine_asks_docker_for_exactly_its_devices():
    environment, machines = _catalog_entries()
    spec = build_container_spec(
        name="floe-workspace-bob",
        environment=environment,
        machine=machines["gpu-1"],
        labels={},
        env={},
        gpu_device_ids=["3"],
    )
    host = _kwargs(spec)["host_config"]
    assert host["DeviceRequests"] == [
        {"Driver": "", "Count": 0, "DeviceIDs": ["3"], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert host["CpuQuota"] == 4 * host["CpuPeriod"]


def test_gpu_machine_without_ids_is_a_bug_caught_early():
    environment, machines = _catalog_entries()
    with pytest.raises(ValueError, match="needs 1 GPU id"):
        build_container_spec(
            name="x", environment=environment, machine=machines["gpu-1"], labels={}, env={}
        )


@pytest.mark.parametrize("socket", ["/var/run/docker.sock", "/run/docker.sock"])
def test_the_docker_socket_is_never_mounted(socket):
    environment, machines = _catalog_entries()
    with pytest.raises(UnsafeMount):
        build_container_spec(
            name="x",
            environment=environment,
            machine=machines["cpu-small"],
            labels={},
            env={},
            mounts=[Mount(source=socket, target="/var/run/docker.sock", kind="bind")],
        )
