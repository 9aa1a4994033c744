"""Building environments people make, when they are made: queued, building, ready or failed.

The floe service runs these builds (``c.EnvironmentBuilds.concurrent`` at a time, each user
one at a time: ``custom_environments``), each with its log in a file the API and the page
serve; a build the service was in the middle of when it stopped is started again when it
starts. A made environment whose image the cache later let go is built again on its next use,
the same way catalog environments are (``environment_images``), unless it is published: the
cache keeps those, and one whose image is gone anyway is refused, never built again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

from containers.catalog import Catalog
from environments.builder import EnvironmentBuilder
from environments.custom import as_environment, keep_published_images, trusted_finder
from environments.images import Made, environment_chain, environment_image
from floe.core.errors import FloeUserError
from floe.db.base import utcnow
from floe.db.models import ENV_BUILDING, ENV_FAILED, ENV_QUEUED, ENV_READY, CustomEnvironment


class EnvironmentBuilds(LoggingConfigurable):
    """Builds made environments off the request path, and keeps their logs."""

    concurrent = Integer(
        1,
        config=True,
        help="""Environments people make that are built at once on this node (each user's one
        at a time); the rest wait, queued. Each build takes up to
        c.EnvironmentBuilder.memory_bytes and .cpu.""",
    )
    logs_dir = Unicode(
        "",
        config=True,
        help="Folder of the build logs of environments people make (Floe sets it to "
        "<data dir>/environments).",
    )

    def __init__(
        self,
        sessions: sessionmaker,
        catalog: Catalog,
        builder: EnvironmentBuilder,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.sessions = sessions
        self.catalog = catalog
        self.builder = builder
        self._pool = ThreadPoolExecutor(self.concurrent, thread_name_prefix="floe-env-build")

    def log_path(self, row_id: int) -> Path:
        return Path(self.logs_dir) / f"{row_id}.log"

    def start(self, row_id: int) -> None:
        """Build the environment of this row (queued) when a builder is free."""
        self._pool.submit(self._build, row_id)

    def resume(self) -> None:
        """Builds the service was waiting for or in the middle of when it stopped, again; the
        cache told which images are published (the table is what counts)."""
        Path(self.logs_dir).mkdir(parents=True, exist_ok=True)
        with self.sessions() as db:
            keep_published_images(db, self.builder)
            waiting = select(CustomEnvironment.id).where(
                CustomEnvironment.state.in_((ENV_QUEUED, ENV_BUILDING))
            )
            for row_id in db.scalars(waiting.order_by(CustomEnvironment.id)):
                self.start(row_id)

    def _build(self, row_id: int) -> None:
        path = self.log_path(row_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.sessions() as db:
            row = db.get(CustomEnvironment, row_id)
            row.state, row.reason = ENV_BUILDING, ""
            db.commit()
            environment = as_environment(row)
            chain = environment_chain(environment, trusted_finder(db, self.catalog))
            name = row.full_name
        with path.open("w", encoding="utf-8") as log:

            def say(line: str) -> None:
                log.write(line + "\n")
                log.flush()

            try:
                say(f"building {name}: {environment.base} + its requirements")
                made: Made = environment_image(chain, self.builder, note=say, say=say)
                state, reason, image_id = ENV_READY, "", made.steps[-1]["id"]
                say(f"{name} is ready: {made.image}")
            except FloeUserError as err:
                state, reason, image_id, made = ENV_FAILED, err.message, "", None
                say(f"{name} did not build: {err.message}")
            except Exception as err:  # the engine refused, a file could not be read ...
                self.log.exception("building environment %s", name)
                state, reason, image_id, made = ENV_FAILED, f"the build failed: {err}", "", None
                say(f"{name} did not build: {reason}")
        with self.sessions() as db:
            row = db.get(CustomEnvironment, row_id)
            row.state, row.reason = state, reason
            if made is not None:
                row.image, row.image_id, row.built = made.image, image_id, utcnow()
            db.commit()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
