"""A Floe container in Swarm's words: the service of one task a :class:`ContainerSpec`
becomes (limits and reservations, GPUs as generic resources, hardening, mounts as the volume
plugin's volumes), and what a task's status says of its container."""

from __future__ import annotations

import docker

from containers.spec import ContainerSpec
from swarm.placement import GPU_KIND, NANO

# Task states after which nothing more happens (Docker's swarm/api/types.go).
ENDED = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}


def service_spec(
    spec: ContainerSpec,
    constraints: list[str],
    stop_grace_seconds: int,
    network: str = "",
    volume_driver: str = "",
    ports: tuple[int, ...] = (),
) -> dict:
    """``create_service`` keyword arguments for ``spec`` as a service of one task, on the
    swarm-scoped ``network`` (none: the node's default); with ``volume_driver``, each mount
    that names a node volume is that volume of the driver (Floe's plugin on every node).
    Each of ``ports`` is published on the task's node only (host mode), at a port the node
    picks (:func:`published_port`)."""
    mounts = []
    for m in spec.mounts:
        mount: dict = {"Type": m.kind, "Source": m.source, "Target": m.target}
        if volume_driver and m.node_volume:
            mount["Type"], mount["Source"] = "volume", m.node_volume
            mount["VolumeOptions"] = {"DriverConfig": {"Name": volume_driver}}
        if m.read_only:
            mount["ReadOnly"] = True
        mounts.append(mount)
    for path, _owner in spec.scratch:
        options = {"SizeBytes": spec.memory_bytes, "Mode": 0o1777}
        mounts.append({"Type": "tmpfs", "Target": path, "TmpfsOptions": options})
    env = dict(spec.environment)
    if not spec.gpu_device_ids:
        # A GPU machine's NVIDIA runtime would otherwise give the image's default (CUDA
        # images say "all") to a job that reserved none.
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
    container: dict = {
        "Image": spec.image,
        "Env": [f"{key}={value}" for key, value in env.items()],
        "Labels": dict(spec.labels),
        "User": spec.user,
        "Mounts": mounts,
        "ReadOnly": spec.read_only,
        "CapabilityDrop": list(spec.cap_drop),
        # Honoured from Engine API 1.46 (Docker 27) on; older managers drop it unread, and a
        # setuid file in the image then works: Floe's builds strip them (see deploy.md).
        "Privileges": {"NoNewPrivileges": "no-new-privileges" in spec.security_opt},
        "StopGracePeriod": stop_grace_seconds * NANO,
    }
    if spec.command:
        container["Command"] = list(spec.command)
    if spec.working_dir:
        container["Dir"] = spec.working_dir
    if spec.sysctls():
        container["Sysctls"] = spec.sysctls()
    limits = {
        "NanoCPUs": int(spec.cpu * NANO),
        "MemoryBytes": spec.memory_bytes,
        "Pids": spec.pids_limit,
    }
    reservations: dict = {"NanoCPUs": limits["NanoCPUs"], "MemoryBytes": spec.memory_bytes}
    if spec.gpu_device_ids:
        count = len(spec.gpu_device_ids)
        reservations["GenericResources"] = [
            {"DiscreteResourceSpec": {"Kind": GPU_KIND, "Value": count}}
        ]
    template: dict = {
        "ContainerSpec": container,
        "Resources": {"Limits": limits, "Reservations": reservations},
        "RestartPolicy": {"Condition": "none", "MaxAttempts": 0},
        "Placement": {"Constraints": list(constraints)},
    }
    if not spec.engine_log:
        template["LogDriver"] = {"Name": "none"}
    if network:  # the hub's own network is one machine's bridge: no use to a swarm
        template["Networks"] = [{"Target": network}]
    made = {
        "task_template": template,
        "name": spec.name,
        "labels": dict(spec.labels),
        # Not a "replicated-job": removing one leaves its task running to completion (Engine
        # 20.10, measured: 40 s after the removal it still ran), so it could not be stopped.
        "mode": docker.types.ServiceMode("replicated", replicas=1),
    }
    if ports:
        made["endpoint_spec"] = docker.types.EndpointSpec(
            ports=[{"Protocol": "tcp", "TargetPort": p, "PublishMode": "host"} for p in ports],
        )
    return made


def published_port(task: dict, port: int) -> int | None:
    """The node's port that reaches the task's container ``port`` (published in host mode),
    once the task runs."""
    for published in task.get("Status", {}).get("PortStatus", {}).get("Ports") or []:
        if published.get("TargetPort") == port and published.get("PublishedPort"):
            return int(published["PublishedPort"])
    return None


def task_ran(state: str, status: dict) -> bool:
    """Whether an ended task's container ran: not one whose start failed (a volume that
    could not be mounted: Swarm gives it exit code 128), nor one removed while pending."""
    if state == "complete":
        return True
    if state == "failed":
        return status.get("Err", "").startswith("task: non-zero exit")
    return bool(status.get("ContainerStatus", {}).get("ContainerID"))
