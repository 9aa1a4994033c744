"""Floe's workspace spawner and the container spec it shares with the job runner."""

from .catalog import Catalog, Environment, Machine
from .container_spec import ContainerSpec, Mount, build_container_spec
from .gpu import GpuAllocator, NvidiaSmiGpuInventory, StaticGpuInventory
from .workspace_spawner import WorkspaceSpawner

__all__ = [
    "Catalog",
    "ContainerSpec",
    "Environment",
    "GpuAllocator",
    "Machine",
    "Mount",
    "NvidiaSmiGpuInventory",
    "StaticGpuInventory",
    "WorkspaceSpawner",
    "build_container_spec",
]
