"""What one environment build may write (``c.EnvironmentBuilder.max_bytes``).

Held by the engine where its storage driver has quotas (overlay2 on xfs with ``pquota``,
btrfs, zfs): the build's writes past it fail with "No space left on device". Elsewhere
(overlay2 on ext4, the common case) the engine cannot cap a container's layer, so the build's
layer is measured while it runs and once more when it has ended, before anything is
committed: a build past the cap is stopped, at most a few seconds of writing beyond it, and
never becomes an image. Everywhere, no one file may pass the cap (``RLIMIT_FSIZE``), and the
free space of the engine's disk (an engine of this machine) is watched too, for what no
layer counts (a file deleted but held open): a build is stopped once that disk is all but
full (less than ``SLACK_BYTES`` free) and has lost more than the cap since it began.
"""

from __future__ import annotations

import os
import signal

import docker

from floe.core.sizes import format_size

MEASURE_EVERY_S = 2.0
SLACK_BYTES = 1024**3
# A shell's exit status for a process RLIMIT_FSIZE killed (Python ignores the signal and
# says "File too large" instead).
FILE_TOO_BIG = 128 + signal.SIGXFSZ
_REFUSED = ("storage-opt", "storage opt", "quota", "storageopt")
_quota_refused: set[str] = set()  # engines (by address) whose driver has no size quota


class BuildDisk:
    """One build's container, made with its caps, and what it has written since."""

    def __init__(self, api: docker.APIClient, max_bytes: int) -> None:
        self.api, self.max_bytes = api, max_bytes
        self.container = ""
        self.engine_capped = False
        self._root = ""
        self._free_at_start = 0

    def create(self, kwargs: dict) -> str:
        """Create the build's container, its layer capped by the engine where it can be."""
        if not self.max_bytes:
            self.container = self.api.create_container(**kwargs)["Id"]
            return self.container
        self._watch_free_space()
        limit = {"Name": "fsize", "Soft": self.max_bytes, "Hard": self.max_bytes}
        host_config = {**kwargs["host_config"], "Ulimits": [limit]}
        if self.api.base_url not in _quota_refused:
            capped = {**host_config, "StorageOpt": {"size": str(self.max_bytes)}}
            try:
                made = self.api.create_container(**{**kwargs, "host_config": capped})
                self.container, self.engine_capped = made["Id"], True
            except docker.errors.APIError as err:
                if not any(word in str(err).lower() for word in _REFUSED):
                    raise
                _quota_refused.add(self.api.base_url)
        if not self.container:
            made = self.api.create_container(**{**kwargs, "host_config": host_config})
            self.container = made["Id"]
        return self.container

    def _watch_free_space(self) -> None:
        """Note the engine's disk and its free space, where the engine is on this machine
        (its socket here); nothing where it is elsewhere or will not say."""
        if not str(self.api.base_url).startswith("http+docker://"):
            return  # a TCP engine: its DockerRootDir is another machine's path
        try:
            root = (self.api.info() or {}).get("DockerRootDir") or ""
        except docker.errors.APIError:  # a socket proxy refusing /info
            return
        if root and os.path.isdir(root):
            self._root, self._free_at_start = root, _free(root)

    def written(self) -> int:
        """Bytes the container wrote into its own layer so far (the engine's ``SizeRw``)."""
        found = self.api.containers(all=True, size=True, filters={"id": self.container})
        return int(found[0].get("SizeRw") or 0) if found else 0

    def past(self, code: int | None = None, lines: str = "") -> str:
        """Why the build is past its cap ("" while it is not): measured while it runs, and
        once it ended with exit status ``code`` and last ``lines``."""
        if not self.max_bytes:
            return ""
        full = ("No space left on device", "File too large")  # the quota's, RLIMIT_FSIZE's
        if code == FILE_TOO_BIG or (code and any(said in lines for said in full)):
            return f"{past_cap(self.max_bytes)}:\n{lines}"
        if not self.engine_capped and (written := self.written()) > self.max_bytes:
            return past_cap(self.max_bytes, written)
        if self._root and (free := _free(self._root)) < SLACK_BYTES:
            fallen = self._free_at_start - free
            if fallen > self.max_bytes:
                return past_cap(self.max_bytes, fallen)
        return ""


def _free(path: str) -> int:
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def past_cap(max_bytes: int, written: int | None = None) -> str:
    """Why a build that wrote past ``max_bytes`` failed."""
    wrote = f" ({format_size(written)} so far)" if written else ""
    return (
        f"the build wrote more than {format_size(max_bytes)} into its image{wrote}, the most "
        "an environment may take (c.EnvironmentBuilder.max_bytes): install less, or ask the "
        "deployer for more"
    )
