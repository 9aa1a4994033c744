"""A workspace's GPUs: the node's allocator, what this server holds, and that hold kept in
the hub's state so a hub restart neither loses nor doubles it.

A part of ``WorkspaceSpawner``; it uses the spawner's ``gpu_ids`` and ``prefix``.
"""

from __future__ import annotations

from typing import ClassVar

from containers.gpu import GpuAllocator, GpuSettings


class WorkspaceGpus:
    """The GPU part of a workspace spawner (a DockerSpawner with ``gpu_ids``)."""

    _allocator: ClassVar[GpuAllocator | None] = None

    @property
    def gpu_allocator(self) -> GpuAllocator:
        cls = type(self)
        if cls._allocator is None:
            cls._allocator = GpuSettings(parent=self).allocator(scope=f"{self.prefix}/")
            self.log.info("GPU inventory: %s", cls._allocator.free_ids() or "none")
        return cls._allocator

    @property
    def gpu_holder(self) -> str:
        return f"workspace:{self.user.name}/{self.name}"

    def _release_gpus(self) -> None:
        self.gpu_allocator.release(self.gpu_holder)
        self.gpu_ids = []

    # --- state that survives a hub restart -----------------------------------------------

    def get_state(self) -> dict:
        state = super().get_state()
        if self.gpu_ids:
            state["gpu_ids"] = list(self.gpu_ids)
        return state

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.gpu_ids = list(state.get("gpu_ids", []))
        if self.gpu_ids:
            self.gpu_allocator.restore(self.gpu_holder, self.gpu_ids)

    def clear_state(self) -> None:
        super().clear_state()
        if self.gpu_ids:
            self._release_gpus()
