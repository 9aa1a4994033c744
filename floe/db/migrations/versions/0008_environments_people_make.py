"""environments people make (one row a version), and what made a job's image

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "environments" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "environments",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("owner", sa.String(255), nullable=False),
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("number", sa.Integer(), nullable=False),
            sa.Column("base", sa.String(400), nullable=False),
            sa.Column("requirements", sa.Text(), nullable=False),
            sa.Column("description", sa.Text(), nullable=False, server_default=""),
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false()),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False, server_default=""),
            sa.Column("image", sa.Text(), nullable=False, server_default=""),
            sa.Column("image_id", sa.Text(), nullable=False, server_default=""),
            sa.Column("created", sa.DateTime(timezone=True), nullable=False),
            sa.Column("built", sa.DateTime(timezone=True), nullable=True),
            sa.UniqueConstraint("owner", "name", "number"),
        )
        op.create_index("ix_environments_owner", "environments", ["owner"])
        op.create_index("ix_environments_state", "environments", ["state"])
    columns = {c["name"] for c in sa.inspect(bind).get_columns("jobs")}
    with op.batch_alter_table("jobs") as batch:
        if "provenance" not in columns:
            batch.add_column(sa.Column("provenance", sa.JSON(), nullable=True))
        batch.alter_column(
            "environment", type_=sa.String(400), existing_type=sa.String(64), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("environment", type_=sa.String(64), existing_type=sa.String(400))
        batch.drop_column("provenance")
    op.drop_table("environments")
