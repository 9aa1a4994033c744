"""Floe's database as a setting: its URL, and sessions of it with the schema brought up to date."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.orm import sessionmaker
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from .base import make_engine
from .migrations import upgrade_database


def make_sessionmaker(url: str) -> sessionmaker:
    """Sessions of Floe's database at ``url``, its schema brought up to date first."""
    engine = make_engine(url)
    upgrade_database(engine)
    return sessionmaker(engine, expire_on_commit=False)


class FloeDatabase(LoggingConfigurable):
    """Where Floe keeps datasets, versions, projects and jobs; read by the hub and the service."""

    url = Unicode(
        "",
        config=True,
        help="""SQLAlchemy URL of Floe's database, e.g. 'postgresql://floe@db/floe' or
        'sqlite:////srv/floe/floe.sqlite'. Floe sets <data dir>/floe.sqlite (FLOE_DB_URL).""",
    )

    @cached_property
    def sessions(self) -> sessionmaker:
        if not self.url:
            raise ValueError("c.FloeDatabase.url is not set")
        return make_sessionmaker(self.url)
