"""The machines of a swarm as users see them (``floe machine ls``): each node's state, its
CPU, memory and GPUs (free ones: advertised, less those Swarm gave running tasks), and which
machine types Floe may place there (the type's placement constraints hold, and it fits)."""

from __future__ import annotations

from containers.catalog import Machine
from jobs.backend import MachineInfo
from swarm.placement import NANO, can_run, gpus_held, node_gpus


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
        fits = [m.slug for m in machines if can_run(node, m, constraints_of.get(m.slug, []))]
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
