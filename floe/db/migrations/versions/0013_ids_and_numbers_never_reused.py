"""ids and numbers never given twice: AUTOINCREMENT on SQLite, the highest number kept

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

SQLite gives a new row one past the highest id left, so deleting the newest job gave its id
to the next one (and what the runner remembered of the first applied to it). The tables
whose ids must stay unique are rebuilt with AUTOINCREMENT (every row, index and foreign key
kept), each sequence starting past every id still named anywhere. PostgreSQL's sequences
never go back: nothing to do there. Projects, datasets and environment names keep the
highest number they ever gave, starting from the highest there is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# table -> the columns elsewhere that hold its ids (kept after its rows go)
UNIQUE_IDS = {
    "jobs": ("jobs.rerun_of", "schedules.last_job_id"),
    "tasks": (),
    "schedules": ("jobs.schedule_id",),
    "environments": (),
    "serving_tokens": (),
}


def upgrade() -> None:
    bind = op.get_bind()
    _keep_last_numbers(bind)
    if bind.dialect.name == "sqlite":
        for table, holders in UNIQUE_IDS.items():
            _autoincrement(bind, table, holders)


def _keep_last_numbers(bind: sa.engine.Connection) -> None:
    columns = {
        "projects": {c["name"] for c in sa.inspect(bind).get_columns("projects")},
        "datasets": {c["name"] for c in sa.inspect(bind).get_columns("datasets")},
    }
    for table, column, rows, parent in (
        ("projects", "last_job_number", "jobs", "project_id"),
        ("projects", "last_task_number", "tasks", "project_id"),
        ("datasets", "last_version_number", "versions", "dataset_id"),
    ):
        if column in columns[table]:
            continue
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))
        op.execute(
            f"UPDATE {table} SET {column} = COALESCE((SELECT MAX(number) FROM {rows} "
            f"WHERE {rows}.{parent} = {table}.id), 0)"
        )
    if "environment_names" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "environment_names",
            sa.Column("owner", sa.String(255), primary_key=True),
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("last_number", sa.Integer(), nullable=False, server_default="0"),
        )
        op.execute(
            "INSERT INTO environment_names (owner, name, last_number) "
            "SELECT owner, name, MAX(number) FROM environments GROUP BY owner, name"
        )


def _autoincrement(bind: sa.engine.Connection, table: str, holders: tuple[str, ...]) -> None:
    made = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
    ).scalar()
    if "AUTOINCREMENT" not in made.upper():
        # A copy made with the new table's options, renamed in place of the old one.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    highest = [f"SELECT MAX(id) AS n FROM {table}"]
    highest += [f"SELECT MAX({c.split('.')[1]}) FROM {c.split('.')[0]}" for c in holders]
    start = bind.execute(sa.text(f"SELECT MAX(n) FROM ({' UNION ALL '.join(highest)})")).scalar()
    known = bind.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table}
    ).scalar()
    if start and (known or 0) < start:
        op.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t").bindparams(t=table))
        op.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)").bindparams(
                t=table, n=start
            )
        )


def downgrade() -> None:
    op.drop_table("environment_names")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("last_version_number")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("last_task_number")
        batch.drop_column("last_job_number")
