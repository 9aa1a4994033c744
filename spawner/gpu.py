"""GPUs: which devices this node has (the inventory) and who holds which (the allocator).

Each GPU container gets device ids of its own, passed to Docker as a ``DeviceRequest``;
nobody shares a GPU. Claims live in memory and in each holder's saved state, so after a
hub restart the holders re-claim exactly what they had (see ``GpuAllocator.restore``).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterable

from traitlets import List, Unicode
from traitlets.config import LoggingConfigurable

from floe.errors import GpuUnavailable


class GpuInventory(LoggingConfigurable):
    """The GPUs of this node, as Docker device ids (``"0"``, ``"1"`` or GPU UUIDs)."""

    def device_ids(self) -> list[str]:
        raise NotImplementedError


class StaticGpuInventory(GpuInventory):
    """A fixed list of device ids, for nodes whose GPUs the deployer lists by hand (and tests)."""

    devices = List(
        Unicode(),
        default_value=[],
        config=True,
        help="Device ids Docker should hand out, e.g. ['0', '1'] or GPU UUIDs.",
    )

    def device_ids(self) -> list[str]:
        return list(self.devices)


class NvidiaSmiGpuInventory(GpuInventory):
    """Discover GPUs with ``nvidia-smi``; a node without it has none."""

    nvidia_smi = Unicode(
        "nvidia-smi", config=True, help="The nvidia-smi program to ask for the GPU list."
    )

    def device_ids(self) -> list[str]:
        if not shutil.which(self.nvidia_smi):
            return []
        try:
            out = subprocess.run(
                [self.nvidia_smi, "--query-gpu=index", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout
        except (subprocess.SubprocessError, OSError) as err:
            self.log.warning("nvidia-smi failed, assuming no GPUs: %s", err)
            return []
        return parse_nvidia_smi_indexes(out)


def parse_nvidia_smi_indexes(output: str) -> list[str]:
    """Device indexes from ``nvidia-smi --query-gpu=index --format=csv,noheader``."""
    return [line.strip() for line in output.splitlines() if line.strip().isdigit()]


class GpuAllocator:
    """Hands out device ids exclusively. Thread-safe; one per process and inventory."""

    def __init__(self, device_ids: list[str]) -> None:
        self._devices = list(device_ids)
        self._holders: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return len(self._devices)

    def free_ids(self) -> list[str]:
        with self._lock:
            return self._free_locked()

    def _free_locked(self) -> list[str]:
        taken = {d for ids in self._holders.values() for d in ids}
        return [d for d in self._devices if d not in taken]

    def claim(self, holder: str, count: int, busy: Iterable[str] = ()) -> list[str]:
        """Give ``holder`` ``count`` GPUs of its own (the same ones if it has them already).

        ``busy``: ids another process holds (workspaces in the hub, jobs in the floe service).
        """
        with self._lock:
            held = self._holders.get(holder)
            if held is not None and len(held) == count:
                return list(held)
            self._holders.pop(holder, None)
            taken = set(busy)
            free = [d for d in self._free_locked() if d not in taken]
            if count > len(free):
                if not self._devices:
                    raise GpuUnavailable("this Floe has no GPUs; pick a CPU machine type instead")
                raise GpuUnavailable(
                    f"{count} GPU(s) asked for but only {len(free)} of {len(self._devices)} "
                    "are free right now; try again when a GPU workspace or job stops, "
                    "or pick a CPU machine type"
                )
            self._holders[holder] = free[:count]
            return list(free[:count])

    def restore(self, holder: str, device_ids: list[str]) -> None:
        """Re-claim ids a holder had before a restart (from its saved state)."""
        with self._lock:
            self._holders[holder] = [d for d in device_ids if d in self._devices]

    def release(self, holder: str) -> None:
        with self._lock:
            self._holders.pop(holder, None)

    def held_by(self, holder: str) -> list[str]:
        with self._lock:
            return list(self._holders.get(holder, []))


GPU_LABEL = "floe.gpus"


def gpus_on_labels(containers: list[dict], skip_name: str = "") -> set[str]:
    """GPU ids on the ``floe.gpus`` labels of running containers, except ``skip_name``'s.

    The hub (workspaces) and the floe service (jobs) each keep their own allocator; the
    engine's running containers are what both see. ``containers`` is what
    ``APIClient.containers(filters={"label": GPU_LABEL})`` returns.
    """
    busy: set[str] = set()
    for container in containers:
        if "/" + skip_name in (container.get("Names") or []):
            continue
        busy.update(g for g in (container.get("Labels") or {}).get(GPU_LABEL, "").split(",") if g)
    return busy
