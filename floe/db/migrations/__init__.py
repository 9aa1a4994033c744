"""Migrations of Floe's database (Alembic): datasets, versions, trees, blobs, projects, jobs.

``upgrade_database`` brings any database to the current schema: a new one is made by the
migrations, one made before migrations existed is completed and marked current, one made by
an older Floe is upgraded. Schema changes are new files in ``versions/`` (``alembic revision
--autogenerate`` with ``script_location`` pointing here), never hand-made ``ALTER TABLE``s.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from floe.db.models import Base

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "floe_alembic_version"


def alembic_config(connection: object | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def upgrade_database(engine: Engine) -> None:
    """Bring the database at ``engine`` to the current schema."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table by copying it and dropping the old one, which it refuses
            # for a table other rows refer to while foreign keys are on (and the switch does
            # nothing inside a transaction): off while migrating, every reference checked after.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                _upgrade(connection)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken:
                        raise RuntimeError(f"migrating left a row of {broken[0]} referring to none")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def _upgrade(connection: Connection) -> None:
    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in tables and "datasets" in tables:
        # Made by create_all before Floe had migrations, so with 0001's tables at most:
        # add the missing ones, mark it 0001, then upgrade like any other.
        Base.metadata.create_all(connection)
        command.stamp(config, "0001")
    command.upgrade(config, "head")
