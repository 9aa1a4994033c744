"""a job's maximum runtime

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}
    if "max_runtime" in columns:
        return  # a pre-migration database whose jobs table create_all made just now
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("max_runtime", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("max_runtime")
