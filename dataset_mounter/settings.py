"""Where datasets live: the blob store, the node cache, the allowed mount roots.

One configurable, read the same way by the hub (the spawner mounts datasets) and by the floe
service (its REST API and the runner), so both see the same datasets.
"""

from __future__ import annotations

import posixpath
from functools import cached_property
from pathlib import Path

from traitlets import Float, Integer, List, TraitError, Type, Unicode, validate
from traitlets.config import LoggingConfigurable

from .stores import BlobStore, LocalStore

# Never a place to mount a dataset: it would hide what the container needs.
FORBIDDEN_ROOTS = (
    "/",
    "/code",
    "/output",
    "/home",
    "/bin",
    "/etc",
    "/lib",
    "/opt",
    "/proc",
    "/root",
    "/sbin",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/dev",
    "/run",
)


class DatasetSettings(LoggingConfigurable):
    blob_store_class = Type(
        LocalStore,
        klass=BlobStore,
        config=True,
        help="""Where blobs (the bytes of every file Floe keeps) live:
        dataset_mounter.stores.LocalStore (a folder, the default) or
        dataset_mounter.stores.S3Store (a bucket; see the S3Store settings).""",
    )
    cache_dir = Unicode(
        "", config=True, help="This node's cache of materialized trees (hard links)."
    )
    mount_roots = List(
        Unicode(),
        default_value=["/input"],
        config=True,
        help="""Folders under which datasets may be mounted in containers; the first is where
        a dataset goes when no mount point is given (/input/<name>). A dataset may also be
        mounted at a root itself (FloydHub's ':input'), alone there.""",
    )

    user_quota_bytes = Integer(
        100 * 1024**3,
        config=True,
        help="""Bytes of datasets, job outputs and logs one user may keep (what they send or
        their jobs leave; shared bytes count for each who holds them). 0: no quota.""",
    )
    collect_after_hours = Float(
        24,
        config=True,
        help="""Blobs sent but named by no dataset version or job after this many hours (an
        upload never committed) are removed from the store. 0: never; else at least 1.""",
    )

    @validate("collect_after_hours")
    def _check_collect_after(self, proposal: dict) -> float:
        hours = proposal["value"]
        if hours != 0 and hours < 1:
            raise TraitError(
                "DatasetSettings.collect_after_hours: 0 (never) or at least 1 hour, so an "
                "upload on its way to a commit is never collected"
            )
        return hours

    @validate("mount_roots")
    def _check_roots(self, proposal: dict) -> list[str]:
        roots = proposal["value"]
        if not roots:
            raise TraitError("at least one mount root is needed, e.g. ['/input']")
        for root in roots:
            clean = posixpath.normpath(root) if root.startswith("/") else ""
            if clean != root or any(
                clean == f or (f != "/" and clean.startswith(f + "/")) for f in FORBIDDEN_ROOTS
            ):
                raise TraitError(
                    f"mount root {root!r} must be a normalised absolute folder outside "
                    f"{', '.join(FORBIDDEN_ROOTS)}, e.g. '/input' or '/data'"
                )
        return roots

    @cached_property
    def store(self) -> BlobStore:
        return self.blob_store_class(parent=self)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir)
