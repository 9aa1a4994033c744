"""The machines of a swarm as users see them (``floe machine ls``): each node's state, its
CPU, memory and GPUs (free ones: advertised, less those Swarm gave running tasks), and which
machine types Floe may place there (the type's placement constraints hold, and it fits)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from spawner.catalog import Machine
from spawner.swarm_service import NANO, gpus_held, node_gpus

from .backend import MachineInfo

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


def describe_nodes(
    nodes: list[dict],
    tasks: list[dict],
    machines: list[Machine],
    constraints_of: dict[str, list[str]],
) -> list[MachineInfo]:
    """Each node as ``floe machine ls`` shows it; ``constraints_of`` a machine type's slug's
    placement constraints."""
    held = gpus_held(tasks)
    described = []
    for node in sorted(nodes, key=lambda n: (n.get("Description") or {}).get("Hostname", "")):
        description = node.get("Description") or {}
        resources = description.get("Resources") or {}
        cpu = resources.get("NanoCPUs", 0) / NANO
        memory = resources.get("MemoryBytes", 0)
        gpus = node_gpus(node)
        fits = [
            m.slug
            for m in machines
            if m.cpu <= cpu
            and m.memory_bytes <= memory
            and m.gpus <= gpus
            and satisfies(node, constraints_of.get(m.slug, []))
        ]
        described.append(
            MachineInfo(
                name=description.get("Hostname", node.get("ID", "")),
                role=node.get("Spec", {}).get("Role", ""),
                state=node.get("Status", {}).get("State", ""),
                availability=node.get("Spec", {}).get("Availability", ""),
                cpu=cpu,
                memory_bytes=memory,
                gpus=gpus,
                gpus_free=max(0, gpus - held.get(node.get("ID", ""), 0)),
                machine_types=fits,
            )
        )
    return described
