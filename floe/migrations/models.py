"""Every table of Floe's database, for Alembic to compare against."""

from __future__ import annotations

import jobs.db  # noqa: F401 - registers the jobs tables on the shared metadata
from dataset_mounter.db import Base

metadata = Base.metadata
