"""teams: shares, team settings, and who ran each job

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

A team is a hub group: its members are never copied here. What is kept: what is shared with
whom (``shares``), what an admin set for a team (``team_settings``), and who ran a job, task
or schedule of a team's (``submitted_by``; empty on older rows, which their owner ran).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SUBMITTED_BY = ("jobs", "tasks", "schedules")


def upgrade() -> None:
    bind = op.get_bind()
    tables = set(sa.inspect(bind).get_table_names())
    if "shares" not in tables:
        op.create_table(
            "shares",
            sa.Column("kind", sa.String(16), primary_key=True),
            sa.Column("owner", sa.String(255), primary_key=True),
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("grantee", sa.String(255), primary_key=True),
            sa.Column("created_by", sa.String(255), nullable=False),
            sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_shares_grantee", "shares", ["grantee"])
    if "team_settings" not in tables:
        op.create_table(
            "team_settings",
            sa.Column("team", sa.String(255), primary_key=True),
            sa.Column("storage_bytes", sa.BigInteger(), nullable=True),
            sa.Column("max_running", sa.Integer(), nullable=True),
            sa.Column("max_gpus", sa.Integer(), nullable=True),
            sa.Column("shares", sa.JSON(), nullable=False),
            sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        )
    for table in SUBMITTED_BY:
        columns = {c["name"] for c in sa.inspect(bind).get_columns(table)}
        if "submitted_by" not in columns:
            op.add_column(
                table, sa.Column("submitted_by", sa.String(255), nullable=False, server_default="")
            )


def downgrade() -> None:
    for table in SUBMITTED_BY:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("submitted_by")
    op.drop_table("team_settings")
    op.drop_index("ix_shares_grantee", "shares")
    op.drop_table("shares")
