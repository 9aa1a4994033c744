"""Alembic's environment for Floe's database: run on the connection ``upgrade_database`` gives."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from floe.db.migrations import VERSION_TABLE
from floe.db.models import Base

config = context.config
connection = config.attributes.get("connection")


def run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        # Not "alembic_version": the hub's own database may be the same PostgreSQL database.
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:  # the alembic command line: `alembic -x url=sqlite:///… revision --autogenerate`
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).begin() as conn:
        run(conn)
