"""GPUs: which devices this node has (the inventory) and who holds which (the allocator).

Each GPU container gets device ids of its own, passed to Docker as a ``DeviceRequest``;
nobody shares a GPU. Claims live in memory and in each holder's saved state, so after a
hub restart the holders re-claim exactly what they had (see ``GpuAllocator.restore``).

Two processes hand out GPUs: the hub (workspaces) and the floe service (jobs). Each sees the
other's running containers by their ``floe.gpus`` label, and the claims made but not yet on a
container in a small file both share (:class:`ClaimsFile`), so they never pick the same GPU
in the seconds between a claim and its container.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from traitlets import List, Type, Unicode
from traitlets.config import LoggingConfigurable

from floe.core.errors import GpuUnavailable


class GpuInventory(LoggingConfigurable):
    """The GPUs of this node, as Docker device ids (``"0"``, ``"1"`` or GPU UUIDs)."""

    claims_file = Unicode(
        "",
        config=True,
        help="""File where the hub and the floe service note GPU claims not yet on a container
        (locked while read and written). Floe sets it to <data dir>/gpu-claims.json; point
        every Floe that shares this node's GPUs at one file. Empty: claims stay in memory.""",
    )

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


class GpuSettings(LoggingConfigurable):
    """Which GPU inventory this node uses: one setting for workspaces and jobs alike."""

    inventory_class = Type(
        NvidiaSmiGpuInventory,
        klass=GpuInventory,
        config=True,
        help="""
        Where the list of this node's GPUs comes from, for workspaces and jobs. The default
        asks ``nvidia-smi``; ``containers.gpu.StaticGpuInventory`` takes a fixed list
        (``c.StaticGpuInventory.devices = ["0", "1"]``).
        """,
    )

    def allocator(self, scope: str) -> GpuAllocator:
        """An allocator of this node's GPUs for one process (``scope`` keeps its claims apart)."""
        inventory = self.inventory_class(parent=self)
        return GpuAllocator(inventory.device_ids(), inventory.claims_file, scope=scope)


class ClaimsFile:
    """Claims of every process on this node, ``{holder: {"ids": […], "at": time}}``, in a file.

    An entry counts for ``grace`` seconds: long enough for its container to be created (and
    labelled), after which the label speaks for it; so a process that died holding a claim
    does not keep the GPU from others for longer than that.
    """

    def __init__(self, path: str | os.PathLike, grace: float = 900) -> None:
        self.path = Path(path)
        self.grace = grace

    @contextmanager
    def locked(self) -> Iterator[dict[str, dict]]:
        """The live claims, under an exclusive lock; changes to the dict are written back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            try:
                claims = json.loads(f.read() or "{}")
            except json.JSONDecodeError:
                claims = {}  # a torn file only loses claims that labels cover soon
            now = time.time()
            claims = {h: c for h, c in claims.items() if now - c.get("at", 0) < self.grace}
            yield claims
            f.seek(0)
            f.truncate()
            f.write(json.dumps(claims))
            f.flush()


class GpuAllocator:
    """Hands out device ids exclusively. Thread-safe; one per process and inventory.

    With ``claims_file``, claims are also noted in that file, which every allocator on the
    node reads before it picks (see :class:`ClaimsFile`); ``scope`` (the hub's container
    prefix, the service's instance) keeps one process's holder names apart from another's.
    """

    def __init__(
        self, device_ids: list[str], claims_file: str | os.PathLike = "", scope: str = ""
    ) -> None:
        self._devices = list(device_ids)
        self._holders: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._shared = ClaimsFile(claims_file) if claims_file else None
        self._scope = scope

    @contextmanager
    def _node_claims(self) -> Iterator[dict[str, dict]]:
        """The node's claims file, locked; without one, a dict nobody reads."""
        if self._shared is None:
            yield {}
            return
        with self._shared.locked() as claims:
            yield claims

    @property
    def total(self) -> int:
        return len(self._devices)

    def free_ids(self, busy: Iterable[str] = ()) -> list[str]:
        """Ids nobody holds: not this process, not ``busy`` (labels), not a claim in flight."""
        with self._lock, self._node_claims() as claims:
            taken = self._taken(claims, busy, holder="")
            return [d for d in self._free_locked() if d not in taken]

    def _taken(self, claims: dict[str, dict], busy: Iterable[str], holder: str) -> set[str]:
        """Ids held elsewhere: ``busy`` and the node's claims other than ``holder``'s."""
        mine = self._scope + holder
        taken = set(busy)
        taken.update(d for h, c in claims.items() if h != mine for d in c["ids"])
        return taken

    def _free_locked(self) -> list[str]:
        taken = {d for ids in self._holders.values() for d in ids}
        return [d for d in self._devices if d not in taken]

    def claim(self, holder: str, count: int, busy: Iterable[str] = ()) -> list[str]:
        """Give ``holder`` ``count`` GPUs of its own (the same ones if it has them already).

        ``busy``: ids another process holds (workspaces in the hub, jobs in the floe service).
        """
        with self._lock, self._node_claims() as claims:
            held = self._holders.get(holder)
            if held is not None and len(held) == count:
                return list(held)
            self._holders.pop(holder, None)
            taken = self._taken(claims, busy, holder)
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
            claims[self._scope + holder] = {"ids": free[:count], "at": time.time()}
            return list(free[:count])

    def restore(self, holder: str, device_ids: list[str]) -> None:
        """Re-claim ids a holder had before a restart (from its saved state)."""
        with self._lock:
            self._holders[holder] = [d for d in device_ids if d in self._devices]

    def release(self, holder: str) -> None:
        with self._lock, self._node_claims() as claims:
            self._holders.pop(holder, None)
            claims.pop(self._scope + holder, None)

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
