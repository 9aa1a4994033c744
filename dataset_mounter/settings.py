"""Where datasets live: the database, the blob store, the node cache, the allowed mount roots.

One configurable, read the same way by the hub (the spawner mounts datasets) and by the floe
service (its REST API), so both see the same datasets.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from traitlets import List, Type, Unicode
from traitlets.config import LoggingConfigurable

from .stores import BlobStore, LocalStore


class DatasetSettings(LoggingConfigurable):
    db_url = Unicode(
        "", config=True, help="SQLAlchemy URL of Floe's database, e.g. 'postgresql://…'."
    )
    blob_store_class = Type(
        LocalStore,
        klass=BlobStore,
        config=True,
        help="Where blobs are kept: dataset_mounter.stores.LocalStore or .S3Store.",
    )
    cache_dir = Unicode(
        "", config=True, help="This node's cache of materialized trees (hard links)."
    )
    mount_roots = List(
        Unicode(),
        default_value=["/input"],
        config=True,
        help="Folders under which datasets may be mounted in containers.",
    )

    @cached_property
    def sessions(self) -> sessionmaker:
        from .db import make_sessionmaker

        return make_sessionmaker(self.db_url)

    @cached_property
    def store(self) -> BlobStore:
        return self.blob_store_class(parent=self)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir)
