"""Where Swarm may place a task, as Floe reads a node: its GPUs (advertised, and held by
tasks), whether it meets placement constraints, and whether a machine type fits there. The
jobs' machine listing and the workspaces' home check both read nodes this way."""

from __future__ import annotations

import re
from collections.abc import Iterable

from containers.catalog import Machine

GPU_KIND = "NVIDIA-GPU"
NANO = 1_000_000_000
# Task states in which a task holds what it reserved (Docker's swarm/api/types.go).
HOLDING = {"assigned", "accepted", "preparing", "ready", "starting", "running"}
_CONSTRAINT = re.compile(r"\s*([\w.\-]+)\s*(==|!=)\s*(.+?)\s*")


def _node_value(node: dict, key: str) -> str | None:
    """What a placement constraint's key names on ``node`` (None: a key not known here;
    keys are read as Swarm reads them, in any case; label names as written)."""
    spec, description = node.get("Spec") or {}, node.get("Description") or {}
    fixed = {
        "node.id": node.get("ID"),
        "node.hostname": description.get("Hostname"),
        "node.role": spec.get("Role"),
        "node.platform.os": description.get("Platform", {}).get("OS"),
        "node.platform.arch": description.get("Platform", {}).get("Architecture"),
    }
    if key.lower() in fixed:
        return fixed[key.lower()] or ""
    for prefix, labels in (
        ("node.labels.", spec.get("Labels") or {}),
        ("engine.labels.", description.get("Engine", {}).get("Labels") or {}),
    ):
        if key.lower().startswith(prefix):
            return labels.get(key[len(prefix) :], "")
    return None


def satisfies(node: dict, constraints: Iterable[str]) -> bool:
    """Whether ``node`` meets every constraint (``key==value``, ``key!=value``, as Swarm
    reads them; a key this does not know counts as unmet)."""
    for constraint in constraints:
        found = _CONSTRAINT.fullmatch(constraint)
        if not found:
            return False
        key, operator, wanted = found.groups()
        value = _node_value(node, key)
        if value is None or (value.lower() == wanted.lower()) != (operator == "=="):
            return False
    return True


def can_run(node: dict, machine: Machine, constraints: Iterable[str]) -> bool:
    """Whether a task of ``machine`` type may be placed on ``node``: the constraints hold,
    and its CPU, memory and GPUs are no more than the node has."""
    resources = (node.get("Description") or {}).get("Resources") or {}
    return (
        machine.cpu <= resources.get("NanoCPUs", 0) / NANO
        and machine.memory_bytes <= resources.get("MemoryBytes", 0)
        and machine.gpus <= node_gpus(node)
        and satisfies(node, constraints)
    )


def node_gpus(node: dict) -> int:
    """The GPUs a node advertises (``--node-generic-resource NVIDIA-GPU=…``)."""
    total = 0
    resources = (node.get("Description") or {}).get("Resources") or {}
    for generic in resources.get("GenericResources") or []:
        named = generic.get("NamedResourceSpec", {})
        discrete = generic.get("DiscreteResourceSpec", {})
        if named.get("Kind") == GPU_KIND:
            total += 1
        elif discrete.get("Kind") == GPU_KIND:
            total += int(discrete.get("Value", 0))
    return total


def gpus_held(tasks: Iterable[dict]) -> dict[str, int]:
    """GPUs held by tasks placed on a node and not ended, by node id (what each reserved)."""
    held: dict[str, int] = {}
    for task in tasks:
        if task.get("Status", {}).get("State") not in HOLDING or not task.get("NodeID"):
            continue
        reserved = task.get("Spec", {}).get("Resources", {}).get("Reservations", {})
        for generic in reserved.get("GenericResources") or []:
            discrete = generic.get("DiscreteResourceSpec", {})
            if discrete.get("Kind") == GPU_KIND:
                held[task["NodeID"]] = held.get(task["NodeID"], 0) + int(discrete.get("Value", 0))
    return held
