"""Import paths that moved (issue 33's rooms), for the class names deployers wrote in their
settings (``c.GpuSettings.inventory_class = "spawner.gpu.NvidiaSmiGpuInventory"``): a setting
naming an old path stops the hub, the floe service or a node's plug-in with the new one, never
an ImportError deep in a start."""

from __future__ import annotations

from collections.abc import Mapping

# old module -> its module now
MOVED = {
    "dataset_mounter.tree": "floe.trees.tree",
    "dataset_mounter.scan": "floe.trees.scan",
    "dataset_mounter.pack": "floe.trees.pack",
    "dataset_mounter.volume_plugin": "floe_node.volume_driver",
    "floe.service": "floe_service",
    "floe.cli": "floe_cli",
    "floe.node.volume_plugin": "floe_node.volume_plugin",
    "jobs.job_volumes": "floe_node.job_volumes",
    "jobs.swarm_backend": "swarm.backend",
    "jobs.swarm_nodes": "swarm.nodes",
    "spawner.catalog": "containers.catalog",
    "spawner.container_spec": "containers.spec",
    "spawner.gpu": "containers.gpu",
    "spawner.options": "containers.options",
    "environments.stock": "containers.stock",
    "spawner.environment_builder": "environments.builder",
    "spawner.environment_builds": "environments.builds",
    "spawner.environment_cache": "environments.cache",
    "spawner.environment_images": "environments.images",
    "spawner.custom_environments": "environments.custom",
    "spawner.build_container": "environments.build_container",
    "spawner.build_disk": "environments.build_disk",
    "spawner.layer_check": "environments.layer_check",
    "spawner.strip_privileges": "environments.strip_privileges",
    "spawner.image_registry": "environments.image_registry",
    "spawner.swarm_cluster": "swarm.cluster",
    "spawner.swarm_service": "swarm.service",
    "spawner.swarm_placement": "swarm.placement",
    "spawner.swarm_workspaces": "swarm.workspaces",
}


def moved_name(dotted: str) -> str | None:
    """Where ``dotted`` (``module.Class``) lives now, or None if it did not move."""
    for old in sorted(MOVED, key=len, reverse=True):
        if dotted.startswith(old + ".") or dotted == old:
            return MOVED[old] + dotted[len(old) :]
    return None


def moved_settings(config: Mapping) -> list[str]:
    """A line for each setting in ``config`` (a traitlets Config: sections of names) whose value
    is an import path that moved, naming the new one."""
    found = []
    for section, values in config.items():
        if not isinstance(values, Mapping):
            continue
        for name, value in values.items():
            new = moved_name(value) if isinstance(value, str) else None
            if new:
                found.append(f"c.{section}.{name} = {value!r}: that class is now {new!r}")
    return found
