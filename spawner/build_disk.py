"""What one environment build may write into its image (``c.EnvironmentBuilder.max_bytes``).

Held by the engine where its storage driver has quotas (overlay2 on xfs with ``pquota``,
btrfs, zfs): the build's writes past it fail with "No space left on device". Elsewhere
(overlay2 on ext4, the common case) the engine cannot cap a container's layer, so the build's
layer is measured while it runs and once more when it has ended, before anything is
committed: a build past the cap is stopped, at most a few seconds of writing beyond it, and
never becomes an image.
"""

from __future__ import annotations

import docker

from floe.core.sizes import format_size

MEASURE_EVERY_S = 2.0
_REFUSED = ("storage-opt", "storage opt", "quota", "storageopt")
_quota_refused: set[str] = set()  # engines (by address) whose driver has no size quota


def create_capped(api: docker.APIClient, kwargs: dict, max_bytes: int) -> tuple[str, bool]:
    """Create the build's container, its layer capped by the engine where it can be: (its
    id, whether the engine holds the cap)."""
    if max_bytes and api.base_url not in _quota_refused:
        host_config = {**kwargs["host_config"], "StorageOpt": {"size": str(max_bytes)}}
        try:
            return api.create_container(**{**kwargs, "host_config": host_config})["Id"], True
        except docker.errors.APIError as err:
            if not any(word in str(err).lower() for word in _REFUSED):
                raise
            _quota_refused.add(api.base_url)
    return api.create_container(**kwargs)["Id"], False


def written_bytes(api: docker.APIClient, container: str) -> int:
    """Bytes the container wrote into its own layer so far (the engine's ``SizeRw``)."""
    found = api.containers(all=True, size=True, filters={"id": container})
    return int(found[0].get("SizeRw") or 0) if found else 0


def past_cap(max_bytes: int, written: int | None = None) -> str:
    """Why a build that wrote past ``max_bytes`` failed."""
    wrote = f" ({format_size(written)} so far)" if written else ""
    return (
        f"the build wrote more than {format_size(max_bytes)} into its image{wrote}, the most "
        "an environment may take (c.EnvironmentBuilder.max_bytes): install less, or ask the "
        "deployer for more"
    )
